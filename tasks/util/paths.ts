// Where the kit keeps state: <root>/<lab>/<vm>/ holds the QMP socket, pidfile, serial log
// and QEMU's stderr.  Root is $GRAINCHART_HOME, else .grainchart/ in the project folder.
// The names of the kit's own files live here too (VM_FILES, LAB_ENTRIES): paths, the VM's
// record, the QEMU argv, the cloud seed and the spec's path checker all read them from here.
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from './errors.ts';

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
  /** A suspended VM's RAM, copied (sparse) from the file it was mapped from while it ran (runningRamFile). */
  ram: 'ram',
  /** A suspended VM's device state beside its RAM file (QEMU's migration stream, RAM left out). */
  devices: 'devices.state',
  /** The kit's shell on a kit image's virtio port: QEMU's `-chardev pipe` on FIFOs shell.in and shell.out (console/port-shell.ts). */
  shell: 'shell',
} as const;

/** The FIFOs' common path (QEMU adds .in and .out) of a VM's port shell, in its folder. */
export const shellPipe = (p: { dir: string }) => `${p.dir}/${VM_FILES.shell}`;

/** What a lab's folder holds beside its VMs' folders: a VM may not be named like these. */
export const LAB_ENTRIES = ['ssh', 'lab.lock', 'lab.lock.holder.json', 'agent.sock', 'agent.pid', 'agent.log'] as const;
/** LAB_ENTRIES that are valid VM names. */
export const RESERVED_VM_NAMES = LAB_ENTRIES.filter((e) => /^[a-z0-9-]+$/.test(e));

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface VmPaths {
  dir: string;
  qmp: string;
  pid: string;
  serial: string;
  stderr: string;
  /** The root overlay of an image boot, where it is not the folder's root.qcow2 (a libvirt pool's volume). */
  rootDisk?: string;
}

export interface KitPaths {
  home: string;
  vm: VmPaths;
}

/** $GRAINCHART_HOME (an empty one is unset, not the current folder), else .grainchart/ in the project. */
export function stateRoot(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.GRAINCHART_HOME || join(PROJECT_ROOT, '.grainchart'));
}

// sockaddr_un.sun_path holds 108 bytes including the NUL.
export const MAX_SOCKET_PATH = 107;

/**
 * A unix socket at `preferred`, or, when that path is too long for one (a deep
 * GRAINCHART_HOME, 63-character lab and VM names), in a short folder of this user's under
 * the temp folder, named by a hash of `preferred` so each socket keeps its own.
 */
export function socketPath(preferred: string, tmp = tmpdir()): string {
  if (Buffer.byteLength(preferred) <= MAX_SOCKET_PATH) return preferred;
  const short = join(shortSocketDir(tmp), `${createHash('sha256').update(preferred).digest('hex').slice(0, 24)}.sock`);
  if (Buffer.byteLength(short) > MAX_SOCKET_PATH)
    throw new UsageError(`no unix socket path fits in ${MAX_SOCKET_PATH} bytes: ${preferred}`, 'set TMPDIR or GRAINCHART_HOME to a shorter folder');
  return short;
}

/** The short folder for sockets whose own path is too long: one per user (made 0700 before QEMU starts). */
export const shortSocketDir = (tmp = tmpdir()) => join(tmp, `grainchart-${process.getuid?.() ?? 'user'}`);

/**
 * Where a VM on this host keeps its RAM while it runs, where its machine maps RAM from a file:
 * in memory (tmpfs, $GRAINCHART_RAM_DIR or /dev/shm), so the kernel never writes a running
 * guest's pages to a disk; named by the VM's folder, so two labs or state folders never share one.
 */
export function runningRamFile(vmDir: string, env: NodeJS.ProcessEnv = process.env): string {
  const name = `grainchart-${vmDir.split('/').slice(-2).join('-')}-${createHash('sha256').update(vmDir).digest('hex').slice(0, 12)}.ram`;
  return join(ramDir(env), name.replaceAll(',', '_'));
}

/** The folder of running RAM files (a tmpfs). */
export const ramDir = (env: NodeJS.ProcessEnv = process.env) => env.GRAINCHART_RAM_DIR || '/dev/shm';

export function vmPaths(root: string, lab: string, vm: string): VmPaths {
  const dir = join(root, lab, vm);
  const at = (name: string) => join(dir, name);
  const paths = { dir, qmp: socketPath(at(VM_FILES.qmp)), pid: at(VM_FILES.pid), serial: at(VM_FILES.serial), stderr: at(VM_FILES.stderr) };
  // QEMU option strings are comma-separated: a comma in the folder would split them.
  if (dir.includes(','))
    throw new UsageError(`state folder ${dir} contains a comma, which QEMU options cannot carry`, 'set GRAINCHART_HOME to a folder without commas');
  return paths;
}

export function kitPaths(lab: string, vm: string, env: NodeJS.ProcessEnv = process.env): KitPaths {
  return { home: env.HOME ?? homedir(), vm: vmPaths(stateRoot(env), lab, vm) };
}

/** Spec paths: `~/x` is in the home folder, a relative path is in the VM's state folder. */
export function expandPath(file: string, paths: { home: string; vm: { dir: string } }): string {
  if (file === '~') return paths.home;
  if (file.startsWith('~/')) return join(paths.home, file.slice(2));
  return isAbsolute(file) ? file : join(paths.vm.dir, file);
}

/**
 * The folder of a socket made ready before something listens there: its own folder, or the
 * short one, which must be this user's alone (a folder someone else made in /tmp is refused).
 */
export function ensureSocketDir(socket: string): void {
  const dir = dirname(socket);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid))
    throw new UsageError(`${dir} is not a folder of this user's; a socket there is not safe`, 'remove it, or set TMPDIR to another folder');
  if (dir === shortSocketDir(dirname(dir))) chmodSync(dir, 0o700);
}
