// Assembles the tiny guest's file tree from unpacked Debian packages, then packs it as a
// gzip'd newc initramfs and as an ext4 root disk (mkfs.ext4 -d: no mount needed).
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { shell } from './shell.ts';
import { TaskError } from '../util/errors.ts';
import { FILES, INIT, ROOT_DISK_MODULES, VIRTIO_MODULES } from './init-scripts.ts';

async function must<R extends { exitCode: number | null; stderr: string }>(p: Promise<R>, what: string): Promise<R> {
  const r = await p;
  if (r.exitCode !== 0) throw new TaskError(`${what} failed`, { exitCode: r.exitCode, stderr: r.stderr });
  return r;
}

/** Library folders of the unpacked packages, searched before the host's. */
const libDirs = (extract: string) => [join(extract, 'usr/lib/x86_64-linux-gnu'), join(extract, 'lib/x86_64-linux-gnu')].filter(existsSync);

/** Copies a binary and every shared library ldd finds for it (from the packages first, then the host). */
export async function copyWithLibs(binary: string, dest: string, root: string, extract: string): Promise<void> {
  copyInto(binary, join(root, dest));
  const r = await must((await shell({ env: { ...process.env, LD_LIBRARY_PATH: libDirs(extract).join(':') } }))`ldd ${binary}`, `ldd ${binary}`);
  for (const line of r.stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (/not found/.test(line)) throw new TaskError(`${binary} needs a library that is neither in the packages nor on the host: ${line.trim()}`);
    if (!m) continue;
    const lib = m[1]!;
    // Keep the library's path as the loader expects it, minus the unpack folder.
    const at = lib.startsWith(extract) ? lib.slice(extract.length) : lib;
    copyInto(lib, join(root, at));
  }
}

function copyInto(from: string, to: string) {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(realpathSync(from), to);
  chmodSync(to, statSync(realpathSync(from)).mode & 0o777);
}

function findModule(modulesDir: string, name: string): string {
  const want = new Set([`${name}.ko`, `${name.replaceAll('-', '_')}.ko`, `${name.replaceAll('_', '-')}.ko`]);
  const stack = [modulesDir];
  while (stack.length) {
    const dir = stack.pop()!;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) stack.push(join(dir, e.name));
      else if (want.has(e.name)) return join(dir, e.name);
    }
  }
  throw new TaskError(`kernel module ${name} is not in ${modulesDir}`);
}

export interface TreeResult {
  kernelVersion: string;
  hostKeyPub: string; // "ssh-ed25519 AAAA…"
}

/** Builds the guest's root tree in `root` from the packages unpacked in `extract`. */
export async function assembleTree(extract: string, root: string, extraModules: string[] = []): Promise<TreeResult> {
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'run', 'root', 'newroot', 'mnt', 'etc/dropbear', 'etc/acpi', 'var/log', 'lib/modules/gc'])
    mkdirSync(join(root, d), { recursive: true });

  // busybox-static and its applets, each where busybox says it belongs.
  const busybox = join(extract, 'bin/busybox');
  copyInto(busybox, join(root, 'bin/busybox'));
  const applets = (await must((await shell())`${busybox} --list-full`, 'busybox --list-full')).stdout.split('\n').filter(Boolean);
  for (const applet of applets) {
    const at = join(root, applet);
    if (existsSync(at) || applet === 'bin/busybox') continue;
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync('/bin/busybox', at);
  }

  // dropbear and what it links against.
  await copyWithLibs(join(extract, 'usr/sbin/dropbear'), 'usr/sbin/dropbear', root, extract);
  await copyWithLibs(join(extract, 'usr/lib/openssh/sftp-server'), 'usr/lib/sftp-server', root, extract);

  // Kernel modules, flat, in load order.
  const modRoot = join(extract, 'lib/modules');
  const kernelVersion = readdirSync(modRoot)[0]!;
  for (const m of [...VIRTIO_MODULES, ...extraModules]) copyFileSync(findModule(join(modRoot, kernelVersion), m), join(root, 'lib/modules/gc', `${m}.ko`));

  for (const [path, { text, mode }] of Object.entries(FILES)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text, { mode });
    chmodSync(join(root, path), mode);
  }
  if (extraModules.length) writeFileSync(join(root, 'etc/gc/modules-extra'), `${extraModules.join('\n')}\n`);

  // The host key, made now so boots do no key generation; its public half is pinned by the kit.
  const env = { ...process.env, LD_LIBRARY_PATH: libDirs(extract).join(':') };
  const keyFile = join(root, 'etc/dropbear/dropbear_ed25519_host_key');
  await must((await shell({ env }))`${join(extract, 'usr/bin/dropbearkey')} -t ed25519 -f ${keyFile}`, 'dropbearkey');
  chmodSync(keyFile, 0o600);
  const pub = (await must((await shell({ env }))`${join(extract, 'usr/bin/dropbearkey')} -y -f ${keyFile}`, 'dropbearkey -y')).stdout;
  const hostKeyPub = pub
    .split('\n')
    .find((l) => l.startsWith('ssh-ed25519 '))
    ?.split(' ')
    .slice(0, 2)
    .join(' ');
  if (!hostKeyPub) throw new TaskError('dropbearkey printed no ssh-ed25519 public key', { stdout: pub });
  return { kernelVersion, hostKeyPub };
}

/** The small initramfs tree for disk roots: busybox, /init and the disk's modules only. */
export function assembleRootDiskInitramfs(full: string, root: string): void {
  for (const d of ['proc', 'sys', 'dev', 'newroot', 'lib/modules/gc', 'etc/gc']) mkdirSync(join(root, d), { recursive: true });
  copyInto(join(full, 'bin/busybox'), join(root, 'bin/busybox'));
  for (const applet of ['sh', 'mount', 'insmod', 'sed', 'cat', 'mkdir', 'usleep', 'switch_root', 'echo', 'ls'])
    symlinkSync('busybox', join(root, 'bin', applet));
  for (const m of ROOT_DISK_MODULES) copyFileSync(join(full, 'lib/modules/gc', `${m}.ko`), join(root, 'lib/modules/gc', `${m}.ko`));
  writeFileSync(join(root, 'etc/gc/modules'), `${ROOT_DISK_MODULES.join('\n')}\n`);
  writeFileSync(join(root, 'init'), INIT, { mode: 0o755 });
  chmodSync(join(root, 'init'), 0o755);
}

/** newc cpio, owned by root, gzip -1 (fast to make, fast to unpack). */
export async function packInitramfs(root: string, out: string): Promise<void> {
  await must((await shell({ cwd: root }))`find . -print0 | cpio --null -o -H newc --owner=0:0 --quiet | gzip -1 > ${out}`, 'packing the initramfs');
}

/**
 * ext4 filled from the tree without mounting, then qcow2 so snapshots work.  `freeMiB` is
 * room for what the guest writes: a nesting guest keeps its children's disks and their
 * snapshots (VM state included) on it.  The space costs nothing until used: lazy inode
 * tables and journal leave it zero, and qemu-img convert stores no zero clusters.
 */
export async function makeRootDisk(root: string, work: string, out: string, freeMiB: number): Promise<void> {
  const du = await must((await shell())`du -sm ${root}`, 'du');
  const mb = Number(du.stdout.split(/\s/)[0]) * 2 + freeMiB;
  const raw = join(work, 'root.raw');
  await must(
    (await shell())`mkfs.ext4 -q -F -L gcroot -i 65536 -E root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1 -d ${root} ${raw} ${mb}M`,
    'mkfs.ext4 -d',
  );
  await must((await shell())`qemu-img convert -O qcow2 ${raw} ${out}`, 'qemu-img convert');
}
