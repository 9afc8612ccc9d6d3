// `image debian`: a Debian stable root disk built with mmdebstrap from Debian's packages —
// systemd, OpenSSH, the cloud kernel, cloud-init — into qcow2, plus its kernel and initramfs
// for direct kernel boot.  `image debian-nest` is the same plus QEMU, qemu-img and kmod from
// Debian, so it can run children (KVM inside when its CPU offers svm/vmx: TCG's -cpu max does).
// Both run the kit's port shell (a systemd service).  Nothing is baked in for a lab: users, keys and host keys arrive
// at first boot from a cloud-init NoCloud seed, as with any cloud image.  Cached by a hash
// of the package list, the suite and this builder; `--force` rebuilds (e.g. for new
// point-release packages).
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shell } from './shell.ts';
import { TaskError } from '../util/errors.ts';
import { progressList } from '../cli/progress.ts';
import { cacheRoot, imageSource, workDirFor } from './build.ts';
import { PORT_SHELL, PORT_SHELL_UNIT } from './init-scripts.ts';

export const DEBIAN_SUITE = 'bookworm';
export const DEBIAN_PACKAGES = [
  'systemd-sysv',
  'udev',
  'dbus',
  'openssh-server',
  'linux-image-cloud-amd64',
  'cloud-init',
  'netbase',
  'iproute2',
  'ifupdown',
  'isc-dhcp-client',
  'sudo',
  'procps',
];
/** What a parent needs to run children: QEMU and qemu-img, and modprobe for kvm_amd/kvm_intel. */
export const NEST_PACKAGES = ['qemu-system-x86', 'qemu-utils', 'kmod'];
export type DebianKind = 'debian' | 'debian-nest';
const packagesOf = (kind: DebianKind) => (kind === 'debian-nest' ? [...DEBIAN_PACKAGES, ...NEST_PACKAGES] : DEBIAN_PACKAGES);
/** Room for what the guest writes (a parent: its children's overlays too); sparse, so free until used. */
const FREE_MIB = 2048;

export interface DebianImage {
  name: DebianKind;
  hash: string;
  dir: string;
  kernel: string;
  initrd: string;
  rootDisk: string;
  kernelVersion: string;
  cached: boolean;
  buildSeconds?: number;
}

function debianHash(kind: DebianKind): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ suite: DEBIAN_SUITE, packages: packagesOf(kind), free: FREE_MIB }));
  // This source's own text: a change to the recipe is a new image.
  h.update(imageSource('debian.ts'));
  h.update(PORT_SHELL + PORT_SHELL_UNIT);
  return h.digest('hex').slice(0, 16);
}

/** The kit's port shell (image/init-scripts.ts), started by systemd in multi-user.target. */
function addPortShell(rootfs: string): void {
  writeFileSync(join(rootfs, 'usr/local/sbin/gc-shell'), PORT_SHELL, { mode: 0o755 });
  writeFileSync(join(rootfs, 'etc/systemd/system/gc-shell.service'), PORT_SHELL_UNIT, { mode: 0o644 });
  const wants = join(rootfs, 'etc/systemd/system/multi-user.target.wants');
  mkdirSync(wants, { recursive: true });
  rmSync(join(wants, 'gc-shell.service'), { force: true });
  symlinkSync('/etc/systemd/system/gc-shell.service', join(wants, 'gc-shell.service'));
}

const paths = (dir: string) => ({
  kernel: join(dir, 'vmlinuz'),
  initrd: join(dir, 'initrd.img'),
  rootDisk: join(dir, 'root.qcow2'),
  manifest: join(dir, 'manifest.json'),
});

async function must(p: Promise<{ exitCode: number | null; stderr: string; stdout: string }>, what: string, hint?: string) {
  const r = await p;
  if (r.exitCode !== 0) throw new TaskError(`${what} failed`, { exitCode: r.exitCode, stderr: r.stderr.slice(-4000), stdout: r.stdout.slice(-2000), hint });
  return r;
}

export async function buildDebianImage(opts: { quiet?: boolean; force?: boolean; kind?: DebianKind } = {}): Promise<DebianImage> {
  const kind = opts.kind ?? 'debian';
  const packages = packagesOf(kind);
  const hash = debianHash(kind);
  const dir = join(cacheRoot(), 'images', `${kind}-${hash}`);
  const p = paths(dir);
  if (existsSync(p.manifest) && !opts.force) return { ...(JSON.parse(readFileSync(p.manifest, 'utf8')) as DebianImage), dir, ...paths(dir), cached: true };
  const started = Date.now();
  const work = workDirFor(dir);
  const rootfs = join(work, 'rootfs');
  const q = await shell({ timeout: '30m' });
  let kernelVersion = '';
  const list = progressList<Record<string, never>>(
    [
      {
        title: `mmdebstrap ${DEBIAN_SUITE} (${kind}): ${packages.length} packages and their dependencies from Debian`,
        task: async () => {
          rmSync(work, { recursive: true, force: true });
          mkdirSync(work, { recursive: true });
          await must(
            q`mmdebstrap --mode=root --variant=minbase --include=${packages.join(',')} --components=main --aptopt=${'Acquire::Retries "3"'} --customize-hook=${'echo "/dev/vda / ext4 defaults,errors=remount-ro 0 1" > "$1/etc/fstab"'} --customize-hook=${'rm -f "$1/etc/machine-id" "$1/var/lib/dbus/machine-id"; touch "$1/etc/machine-id"'} --customize-hook=${'printf "datasource_list: [ NoCloud, None ]\\n# minbase has no locales package to generate from\\nlocale: false\\n" > "$1/etc/cloud/cloud.cfg.d/90-grainchart.cfg"'} ${DEBIAN_SUITE} ${rootfs}`,
            'mmdebstrap',
            'mmdebstrap comes with Debian’s mmdebstrap package (bash scripts/setup-host.sh --full); it needs root and a reachable Debian mirror',
          );
        },
      },
      {
        title: 'Kernel, initramfs and an ext4 root disk (qcow2)',
        task: async () => {
          const boot = join(rootfs, 'boot');
          const vmlinuz = readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
          const initrd = readdirSync(boot).find((f) => f.startsWith('initrd.img-'));
          if (!vmlinuz || !initrd) throw new TaskError(`no kernel or initramfs in ${boot}`, { hint: 'linux-image-cloud-amd64 should have made both' });
          kernelVersion = vmlinuz.slice('vmlinuz-'.length);
          addPortShell(rootfs);
          const out = join(work, 'out');
          mkdirSync(out);
          copyFileSync(join(boot, vmlinuz), join(out, 'vmlinuz'));
          copyFileSync(join(boot, initrd), join(out, 'initrd.img'));
          const du = await must(q`du -sm ${rootfs}`, 'du');
          const mb = Math.ceil(Number(du.stdout.split(/\s/)[0]) * 1.3) + FREE_MIB;
          const raw = join(work, 'root.raw');
          await must(q`mkfs.ext4 -q -F -L debroot -E root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1 -d ${rootfs} ${raw} ${mb}M`, 'mkfs.ext4 -d');
          await must(q`qemu-img convert -O qcow2 ${raw} ${join(out, 'root.qcow2')}`, 'qemu-img convert');
          const manifest = {
            name: kind,
            hash,
            kernelVersion,
            suite: DEBIAN_SUITE,
            packages,
            buildSeconds: Math.round((Date.now() - started) / 1000),
            builtAt: new Date().toISOString(),
          };
          writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
          // Published by one rename: a failed build leaves no half image in the cache.
          rmSync(dir, { recursive: true, force: true });
          renameSync(out, dir);
        },
      },
    ],
    { quiet: opts.quiet },
  );
  try {
    await list.run();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { name: kind, hash, dir, ...paths(dir), kernelVersion, cached: false, buildSeconds: Math.round((Date.now() - started) / 1000) };
}
