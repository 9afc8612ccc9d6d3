// The tiny-nest image: the tiny guest plus what a parent needs to run children — QEMU and
// qemu-img with their libraries, QEMU's TCG module and x86 firmware, the kvm modules of
// the guest's kernel, and the tiny image itself for the children to boot.  Carried in the
// L1 image rather than sent over SFTP at `nest` time: ~50 MB per boot over slirp would cost
// seconds every time; in the image it costs one cached build.
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { currentQemu, qemuEnv } from '../qemu/which.ts';
import { TaskError } from '../util/errors.ts';
import { copyWithLibs } from './tree.ts';
import { GUEST_STATE_DIR } from '../machine/guest.ts';
import { KVM_MODULES } from '../machine/over-ssh.ts';

/** Where the children's image lives inside a tiny-nest guest. */
export const GUEST_IMAGE_DIR = '/var/lib/grainchart/image';

/** Debian's QEMU looks for firmware in these folders (qemu-system-x86_64 -L help). */
const FIRMWARE = [
  { dir: '/usr/share/seabios', keep: (f: string) => /^(bios(-256k)?\.bin|vgabios-(stdvga|virtio)\.bin)$/.test(f) },
  { dir: '/usr/lib/ipxe/qemu', keep: (f: string) => /^efi-(virtio|e1000)\.rom$/.test(f) },
  { dir: '/usr/share/qemu', keep: (f: string) => /^(kvmvapic|linuxboot(_dma)?|multiboot(_dma)?|pvh)\.bin$/.test(f) },
];
const QEMU_MODULE_DIR = '/usr/lib/x86_64-linux-gnu/qemu';

/** Adds QEMU, its firmware and module, and the kvm modules to an assembled guest tree. */
export async function addQemu(root: string, extract: string, kernelVersion: string): Promise<void> {
  // The QEMU the lab runs on this host (qemu/which.ts): its binaries, its TCG module (QEMU 10
  // has it built in), and its own firmware where it was unpacked into a folder — each put where
  // Debian's build looks for it inside the guest.
  const q = currentQemu();
  for (const [bin, path] of [
    ['qemu-system-x86_64', q.system],
    ['qemu-img', q.img],
  ] as const) {
    if (!path.includes('/') || !existsSync(path))
      throw new TaskError(`${bin} is not installed on the host (${path}); the nest image copies it`, { hint: 'bash scripts/setup-host.sh' });
    await copyWithLibs(path, `usr/bin/${bin}`, root, extract);
  }
  const tcg = join(q.moduleDir ?? QEMU_MODULE_DIR, 'accel-tcg-x86_64.so');
  if (existsSync(tcg)) await copyWithLibs(tcg, join(QEMU_MODULE_DIR, 'accel-tcg-x86_64.so').slice(1), root, extract);
  for (const { dir, keep } of FIRMWARE) {
    const from = q.dataDirs.find((d) => d.endsWith(dir)) ?? dir;
    if (!existsSync(from)) continue;
    mkdirSync(join(root, dir), { recursive: true });
    for (const f of readdirSync(from).filter(keep)) copyFileSync(join(from, f), join(root, dir, f));
  }
  const modDir = join(extract, 'lib/modules', kernelVersion);
  for (const m of [...KVM_MODULES.common, KVM_MODULES.amd, KVM_MODULES.intel]) {
    const found = findFile(modDir, `${m}.ko`);
    if (!found) throw new TaskError(`kernel module ${m} is not in ${modDir}`);
    copyFileSync(found, join(root, 'lib/modules/gc', `${m}.ko`));
  }
  mkdirSync(join(root, GUEST_STATE_DIR), { recursive: true, mode: 0o700 });
  // Starting QEMU under TCG just to ask its version costs a second; the build knows it.
  const version = execFileSync(q.system, ['--version'], { encoding: 'utf8', env: qemuEnv(q) });
  writeFileSync(join(root, 'etc/gc/qemu-version'), `${/version\s+(\d+\.\d+(?:\.\d+)?)/.exec(version)?.[1] ?? ''}\n`);
}

/** Copies the child image's files into the tree. */
export function addChildImage(root: string, files: Record<string, string>): void {
  const dir = join(root, GUEST_IMAGE_DIR);
  mkdirSync(dir, { recursive: true });
  for (const [name, from] of Object.entries(files)) copyFileSync(from, join(dir, name));
  writeFileSync(join(dir, 'README'), 'The tiny image, for the VMs this guest runs (grainchart nest).\n');
}

function findFile(dir: string, name: string): string | undefined {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) {
      const f = findFile(p, name);
      if (f) return f;
    } else if (e === name) return p;
  }
  return undefined;
}
