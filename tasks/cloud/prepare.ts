// Before a cloud-image boot: the image (the user's file, or the kit's `debian`), a qcow2
// overlay on it in the VM's folder (the image is only ever read), the VM's own SSH host
// key (made once, kept beside the overlay, pinned), and the NoCloud seed that hands the
// guest its user, the lab key and that host key.
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../kit/errors.ts';
import { expandPath, type KitPaths } from '../kit/paths.ts';
import { imageRootDisk, type ArgInputs } from '../kit/qemu-args.ts';
import type { VmResolved } from '../kit/resolve.ts';
import { createDisk } from '../kit/disk-image.ts';
import { newEd25519Pair } from '../kit/keys.ts';
import { buildDebianImage } from '../image/debian.ts';
import { makeSeedIso } from './seed.ts';

interface CloudBoot {
  cloudImage: string;
  kernel?: string;
  initrd?: string;
  size?: number;
}

function vmHostKey(dir: string, vm: string): { privateOpenSsh: string; publicOpenSsh: string } {
  const file = join(dir, 'ssh_host_ed25519_key');
  if (!existsSync(file)) {
    const pair = newEd25519Pair(`${vm}-host`);
    writeFileSync(file, pair.private, { mode: 0o600 });
    writeFileSync(`${file}.pub`, pair.public + '\n', { mode: 0o600 });
  }
  chmodSync(file, 0o600);
  return { privateOpenSsh: readFileSync(file, 'utf8'), publicOpenSsh: readFileSync(`${file}.pub`, 'utf8').trim() };
}

export async function prepareCloudImage(lab: string, vm: VmResolved, boot: CloudBoot, paths: KitPaths, authorizedKey: string, fresh: boolean): Promise<{ inputs: NonNullable<ArgInputs['cloud']>; hostKey: string }> {
  const kit = boot.cloudImage === 'debian' ? await buildDebianImage({ quiet: true }) : undefined;
  const image = kit ? kit.rootDisk : expandPath(boot.cloudImage, paths);
  if (!existsSync(image)) throw new UsageError(`${vm.name}: boot.cloudImage ${image} does not exist`, 'give the path of a qcow2 or raw cloud image, or "debian" for the kit’s own');
  const kernel = boot.kernel ? expandPath(boot.kernel, paths) : kit?.kernel;
  const initrd = boot.initrd ? expandPath(boot.initrd, paths) : kit?.initrd;
  for (const f of [kernel, initrd]) if (f && !existsSync(f)) throw new UsageError(`${vm.name}: ${f} does not exist`);
  const overlay = imageRootDisk(paths);
  if (fresh) rmSync(overlay, { force: true });
  if (!existsSync(overlay)) {
    await createDisk(overlay, { format: 'qcow2', backing: image, size: boot.size });
    chmodSync(overlay, 0o600);
  }
  const hostKey = vmHostKey(paths.vm.dir, vm.name);
  const seed = join(paths.vm.dir, 'seed.iso');
  await makeSeedIso(seed, { lab, vm: vm.name, user: vm.ssh.user, authorizedKey, hostKey });
  return { inputs: { seed, kernel, initrd }, hostKey: hostKey.publicOpenSsh.split(' ').slice(0, 2).join(' ') };
}
