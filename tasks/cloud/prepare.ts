// tasks/cloud/: booting a cloud image — the image, its NoCloud seed, the VM's own host key.
//
// Before a cloud-image boot: the image (the user's file, or the kit's `debian` or
// `debian-nest`; only ever read, a qcow2 overlay takes the guest's writes), the VM's own SSH
// host key (made once, kept in the VM's folder on this host, pinned), and the NoCloud seed
// that hands the guest its user, the lab key and that host key.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../util/errors.ts';
import { expandPath, type KitPaths } from '../util/paths.ts';
import type { VmResolved } from '../spec/tree.ts';
import { newEd25519Pair } from '../ssh/keys.ts';
import { buildDebianImage } from '../image/debian.ts';
import { makeSeedIso } from './seed.ts';
import { VM_FILES } from '../util/paths.ts';

interface CloudBoot {
  cloudImage: string;
  kernel?: string;
  initrd?: string;
  size?: number;
}

function vmHostKey(dir: string, vm: string): { privateOpenSsh: string; publicOpenSsh: string } {
  const file = join(dir, VM_FILES.hostKey);
  if (!existsSync(file)) {
    const pair = newEd25519Pair(`${vm}-host`);
    writeFileSync(file, pair.private, { mode: 0o600 });
    writeFileSync(`${file}.pub`, `${pair.public}\n`, { mode: 0o600 });
  }
  chmodSync(file, 0o600);
  return { privateOpenSsh: readFileSync(file, 'utf8'), publicOpenSsh: readFileSync(`${file}.pub`, 'utf8').trim() };
}

/** The image file a cloud boot backs onto (the kit's built here), and its kernel and initramfs when booted directly. */
export async function cloudImageFiles(
  vm: VmResolved,
  boot: CloudBoot,
  paths: Pick<KitPaths, 'home' | 'vm'>,
): Promise<{ image: string; kernel?: string; initrd?: string }> {
  const kit = boot.cloudImage === 'debian' || boot.cloudImage === 'debian-nest' ? await buildDebianImage({ quiet: true, kind: boot.cloudImage }) : undefined;
  const image = kit ? kit.rootDisk : expandPath(boot.cloudImage, paths);
  if (!existsSync(image))
    throw new UsageError(
      `${vm.name}: boot.cloudImage ${image} does not exist`,
      'give the path of a qcow2 or raw cloud image, or "debian" / "debian-nest" for the kit’s own',
    );
  const kernel = boot.kernel ? expandPath(boot.kernel, paths) : kit?.kernel;
  const initrd = boot.initrd ? expandPath(boot.initrd, paths) : kit?.initrd;
  for (const f of [kernel, initrd]) if (f && !existsSync(f)) throw new UsageError(`${vm.name}: ${f} does not exist`);
  return { image, kernel, initrd };
}

/** The VM's own SSH host key (made once, kept in `dir`) and the NoCloud seed that hands it over with the user and the lab key. */
export async function cloudSeed(lab: string, vm: VmResolved, dir: string, authorizedKey: string): Promise<{ seed: string; hostKey: string }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const hostKey = vmHostKey(dir, vm.name);
  const seed = join(dir, VM_FILES.seed);
  await makeSeedIso(seed, { lab, vm: vm.name, user: vm.ssh.user, authorizedKey, hostKey });
  return { seed, hostKey: hostKey.publicOpenSsh.split(' ').slice(0, 2).join(' ') };
}
