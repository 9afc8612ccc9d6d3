// The one rule for file paths a spec names, and the names the kit keeps for itself.
// A relative path in a spec is inside the VM's state folder (paths.ts: expandPath), where
// the kit also keeps that VM's runtime files; a lab's folder holds its VMs' folders beside
// the lab's own entries.  Both lists live here, so the checker and the kit cannot drift:
// paths.ts, vm-state.ts, qemu-args.ts and the cloud seed take their names from VM_FILES.
import { posix } from 'node:path';
import { textProblem } from './text.ts';

/** What the kit writes in each VM's folder (on the machine the VM runs on). */
export const VM_FILES = {
  qmp: 'qmp.sock',
  pid: 'qemu.pid',
  serial: 'serial.log',
  stderr: 'qemu.stderr',
  state: 'state.json',
  efiVars: 'efivars.qcow2',
  rootDisk: 'root.qcow2',
  seed: 'seed.iso',
  hostKey: 'ssh_host_ed25519_key',
  /** A nested VM's kernel and initramfs, delivered into its folder in the parent. */
  kernel: 'kernel',
  initrd: 'initrd',
} as const;

/** What a lab's folder holds beside its VMs' folders: a VM may not be named like these. */
export const LAB_ENTRIES = ['ssh', 'lab.lock', 'lab.lock.holder.json', 'agent.sock', 'agent.pid', 'agent.log'] as const;
/** LAB_ENTRIES that are valid VM names. */
export const RESERVED_VM_NAMES = LAB_ENTRIES.filter((e) => /^[a-z0-9-]+$/.test(e));

/** The kit's own file `name`, or one it writes beside it first (`seed.iso.tmp`, `x.pub`, `x.part`). */
function kitFile(name: string): string | undefined {
  return Object.values(VM_FILES).find((k) => name === k || ['.tmp', '.pub', '.part'].some((x) => name === k + x));
}

/**
 * Why `file` may not be a spec path, or undefined when it may: one line of text; a relative
 * one stays inside the VM's folder and names none of the kit's files there.
 */
export function specPathProblem(file: string): string | undefined {
  const text = textProblem(file, 'line');
  if (text) return text;
  if (file === '~' || file.startsWith('~/') || posix.isAbsolute(file)) return undefined;
  if (file.startsWith('~')) return `"${file}": only ~/ (your home) is understood, not ~user; write the full path`;
  const norm = posix.normalize(file);
  if (norm === '.' || norm === '..' || norm.startsWith('../'))
    return `"${file}" leaves the VM's state folder (a relative path is inside it); give an absolute path or ~/… for a file elsewhere`;
  if (file.endsWith('/')) return `"${file}" names a folder, not a file`;
  const first = norm.split('/')[0]!;
  const kit = kitFile(first);
  if (kit) return `"${file}" is the kit's own ${kit} in the VM's state folder; choose another name (reserved: ${Object.values(VM_FILES).join(', ')})`;
  return undefined;
}
