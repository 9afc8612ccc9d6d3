// What a VM boots, made ready on the machine its QEMU runs on: the kit's images (built and
// cached here), cloud images with their seeds, firmware variables, disks, and the guest's
// host key to pin.  The kit's boot path asks for this and never builds images itself.
import { existsSync, mkdirSync, chmodSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { TaskError, UsageError } from '../kit/errors.ts';
import { expandPath } from '../kit/paths.ts';
import { imageRootDisk } from '../kit/qemu-args.ts';
import { kitPaths } from '../kit/paths.ts';
import { readState, type VmState } from '../kit/vm-state.ts';
import { createDisk, imgInfo } from '../kit/disk-image.ts';
import { prepareFirmware } from '../kit/firmware.ts';
import { labKeys } from '../kit/keys.ts';
import type { BootInputs, PrepareInputs } from '../kit/boot-vm.ts';
import { buildImage, buildNestImage, childOf, imagePaths, readManifest, type BuiltImage } from '../image/build.ts';
import { GUEST_IMAGE_DIR } from '../image/nest.ts';
import { prepareCloudImage } from '../cloud/prepare.ts';

export const prepareInputs: PrepareInputs = async (c) => {
  const { place, machine, ref } = c;
  const boot = place.vm.boot;
  // A machine's files are reached through it; so far only this host builds and holds images.
  if (machine.kind !== 'host') return insideParent(c);
  const paths = { home: machine.home, vm: ref.paths };
  mkdirSync(ref.paths.dir, { recursive: true, mode: 0o700 });
  chmodSync(ref.paths.dir, 0o700);
  await prepareFirmware(place.vm, paths);
  if (typeof boot === 'object' && 'image' in boot) return kitImage(c, boot.image, boot.root === 'disk');
  if (typeof boot === 'object' && 'cloudImage' in boot) {
    const cloud = await prepareCloudImage(c.lab.name, place.vm, boot, paths, labKeys(c.lab.name).publicKey, c.fresh);
    return { inputs: { cloud: cloud.inputs }, hostKey: cloud.hostKey, slow: true };
  }
  const disk = place.vm.disk;
  if (disk) {
    const file = expandPath(disk.file, paths);
    if (!existsSync(file)) {
      c.warn?.(`${place.vm.name}: creating its disk ${file}`);
      await createDisk(file, { format: disk.format, size: disk.size, backing: disk.backing ? expandPath(disk.backing, paths) : undefined });
    }
  }
  return { inputs: {} };
};

/** The kit's tiny or tiny-nest image: kernel and initramfs from the cache, a root overlay in the VM's folder. */
async function kitImage(c: Parameters<PrepareInputs>[0], name: 'tiny' | 'tiny-nest', rootDisk: boolean): Promise<BootInputs> {
  const current = await buildImage(name, { quiet: true });
  const overlay = imageRootDisk({ vm: c.ref.paths });
  if (c.fresh) rmSync(overlay, { force: true });
  // A root disk boots with the kernel and initramfs of the image it was made from.
  const img = rootDisk && existsSync(overlay) ? await imageOfOverlay(c.place.vm.name, overlay, current, readState(kitPaths(c.lab.name, c.place.vm.name).vm)) : current;
  if (img.hash !== current.hash) c.warn?.(`${c.place.vm.name}: keeps image ${img.hash}, which its root disk was made from; boot --fresh moves it to ${current.hash} (its changes are lost)`);
  const ip = imagePaths(img);
  const image: VmState['image'] = { hash: img.hash, hostKeyPub: img.hostKeyPub, dir: img.dir };
  return {
    inputs: { images: { [name]: { kernel: ip.kernel, initrd: ip.initrd, initrdDisk: ip.initrdDisk } } },
    // The overlay keeps the guest's writes; the cached image stays untouched.
    overlays: rootDisk ? [{ file: overlay, backing: ip.rootDisk, backingFormat: 'qcow2' }] : [],
    hostKey: img.hostKeyPub,
    image,
  };
}

/** The image an existing overlay was made from: the current one, or an older one still cached. */
async function imageOfOverlay(name: string, overlay: string, current: BuiltImage, state: VmState | undefined): Promise<Pick<BuiltImage, 'dir' | 'files' | 'hash' | 'hostKeyPub'>> {
  if (state?.image?.hash === current.hash) return current;
  const backing = (await imgInfo(overlay))['backing-filename'];
  if (backing === imagePaths(current).rootDisk) return current;
  const dir = backing ? dirname(backing) : '';
  const old = dir ? readManifest(dir) : undefined;
  if (!old)
    throw new TaskError(`${name}'s root disk was made from an image that is no longer usable (${backing ?? 'no backing file'})`, {
      hint: `boot ${name} --fresh makes a new root disk from the current image (the guest's changes are lost)`,
    });
  return { ...old, dir };
}

/** A child of a tiny-nest parent boots the tiny image that parent carries, on an overlay inside it. */
async function insideParent(c: Parameters<PrepareInputs>[0]): Promise<BootInputs> {
  const { lab, place, ref } = c;
  const vm = place.vm;
  const parentVm = place.parent!;
  if (!(typeof parentVm.boot === 'object' && 'image' in parentVm.boot && parentVm.boot.image === 'tiny-nest'))
    throw new UsageError(`${vm.name}: its parent ${parentVm.name} must boot image "tiny-nest", which carries QEMU and the child image`);
  if (!(typeof vm.boot === 'object' && 'image' in vm.boot && vm.boot.image === 'tiny'))
    throw new UsageError(`${vm.name}: nested VMs boot the tiny image their parent carries; set boot: {image: "tiny"}`);
  // The child image is the one inside the image the parent really runs (a parent keeps the
  // image its root disk came from), not necessarily the newest.
  const parentImage = readState(kitPaths(lab.name, parentVm.name).vm)?.image;
  const img = parentImage?.dir ? { dir: parentImage.dir, hash: parentImage.hash } : await buildNestImage({ quiet: true });
  const hostKey = childOf(img)?.hostKeyPub;
  if (!hostKey) throw new TaskError(`the nest image ${img.hash} in ${img.dir} does not say which host key its child image has`, { hint: `rebuild the parent's root disk: npx tsx tasks.ts boot ${parentVm.name} --fresh` });
  const images = { tiny: { kernel: `${GUEST_IMAGE_DIR}/vmlinuz`, initrd: `${GUEST_IMAGE_DIR}/initrd.img`, initrdDisk: `${GUEST_IMAGE_DIR}/initrd-disk.img` } };
  const overlays = [{ file: imageRootDisk({ vm: ref.paths }), backing: `${GUEST_IMAGE_DIR}/root.qcow2`, backingFormat: 'qcow2' as const, replace: c.fresh }];
  return { inputs: { images }, overlays, hostKey };
}
