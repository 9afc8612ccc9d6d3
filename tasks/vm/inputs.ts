// What a VM boots, made ready on the machine its QEMU runs on: the kit's images (built and
// cached on this host), cloud images with their seeds, firmware variables, disks, and the
// guest's host key to pin.  The kit's boot path asks for this and never builds images.
//
// A child boots inside its parent without hundreds of MB going through SSH: the parent was
// started with its children's image files attached as read-only disks (carry.ts), so the
// child's overlay backs onto that device.  Small files (kernel, initramfs, a cloud-init
// seed) go over SFTP, kept by the parent between boots.  A `tiny-nest` parent carries the
// tiny image inside its own image instead.  A libvirt domain runs as libvirt's own user, who
// may not read the kit's cache: its images become volumes of the pool (kept between boots),
// its root overlay a volume on them, its other disks are made in its folder there.
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { TaskError } from '../util/errors.ts';
import { expandPath, kitPaths } from '../util/paths.ts';
import { imageRootDisk } from '../qemu/args.ts';
import { readState, type VmState } from '../machine/record.ts';
import { createDisk, imgInfo } from '../qemu/disk-image.ts';
import { prepareFirmware } from '../qemu/firmware.ts';
import { labKeys } from '../ssh/keys.ts';
import type { BootInputs, PrepareInputs } from './boot-on.ts';
import { handedBase } from '../machine/machine.ts';
import type { VmPlace } from '../spec/tree.ts';
import { buildImage, buildNestImage, childOf, imagePaths, readManifest, type BuiltImage } from '../image/build.ts';
import { GUEST_IMAGE_DIR } from '../image/nest.ts';
import { cloudImageFiles, cloudSeed } from '../cloud/prepare.ts';
import { carriedBy, carriesInside, carryFor, type Carried } from './carry.ts';
import { VM_FILES } from '../util/paths.ts';
import { folderOfVolume } from '../machine/libvirt/pool.ts';

type Ctx = Parameters<PrepareInputs>[0];

export const prepareInputs: PrepareInputs = async (c) => {
  const boot = c.place.vm.boot;
  // This host holds the images; a machine inside a guest is handed them (see the head of this file).
  const handed = c.machine.inside !== undefined;
  if (handed && carriesInside(c.place.parent!)) return insideTinyNest(c);
  const carry = handed
    ? []
    : await Promise.all((await carriedBy(c.lab, c.place)).map(async (f) => ({ ...f, file: await deliver(c, f.file, imageThere(c, f.file)) })));
  const hostPaths = kitPaths(c.lab.name, c.place.vm.name);
  // UEFI's variable store is made in the VM's folder here, where this host's QEMU opens it.
  if (c.machine.readsHostFiles && !c.dryRun) {
    mkdirSync(c.ref.paths.dir, { recursive: true, mode: 0o700 });
    chmodSync(c.ref.paths.dir, 0o700);
    await prepareFirmware(c.place.vm, hostPaths);
  }
  const mine = handed ? await linkCarried(c, await carryFor(c.lab, c.place)) : undefined;
  const given = (await (async (): Promise<BootInputs> => {
    if (typeof boot === 'object' && 'image' in boot) return kitImage(c, boot.image, boot.root === 'disk', mine);
    if (typeof boot === 'object' && 'cloudImage' in boot) return cloudImage(c, boot, mine);
    return plainBoot(c, mine);
  })()) as BootInputs;
  return { ...given, inputs: { ...given.inputs, carry: carry.length ? carry : undefined } };
};

/**
 * Inside the parent: each carried file's device, found by its serial, linked under a stable
 * name (a device's vdX letter may change when the parent's disks do; the overlay names the link).
 */
async function linkCarried(c: Ctx, carried: Carried[]): Promise<Map<string, string>> {
  const dir = `${handedBase(c.ref)}/carry`;
  const links = new Map(carried.map((f) => [f.file, `${dir}/${f.serial}`]));
  if (c.dryRun) return links;
  const script = [
    'dir=$1; shift; mkdir -p "$dir"',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
    'for s in "$@"; do d=; for b in /sys/block/vd*; do [ "$(cat $b/serial 2>/dev/null)" = "$s" ] && d=/dev/${b##*/}; done',
    '  [ -n "$d" ] || { echo "no disk with serial $s" >&2; exit 3; }; ln -sfn "$d" "$dir/$s"; done',
  ].join('\n');
  if (carried.length)
    await c.machine.run(['sh', '-c', script, 'sh', dir, ...carried.map((f) => f.serial)]).catch((err) => {
      throw new TaskError(`${c.place.parent!.name} was not handed ${c.place.vm.name}'s image (${carried.map((f) => f.file).join(', ')})`, {
        cause: err,
        hint: `it was started before this child or its image was added or rebuilt: stop ${c.place.parent!.name} and run up again, so it boots with its children's images attached`,
      });
    });
  return links;
}

/** Where a machine keeps a file of the kit's image cache (or another of this host's images): by its folder's and its own name. */
const imageThere = (c: Ctx, f: string) => c.machine.stashPath(c.ref, posix.basename(dirname(f)), posix.basename(f));

/** A file of this host delivered to the machine (kept there between boots), or as it is where QEMU opens this host's files. */
async function deliver(c: Ctx, local: string, remote: string): Promise<string> {
  if (c.machine.readsHostFiles) return local;
  if (!c.dryRun) await c.machine.put(local, remote, { keep: true });
  return remote;
}

/** The kit's tiny or tiny-nest image: kernel and initramfs, and a root overlay in the VM's folder. */
async function kitImage(c: Ctx, name: 'tiny' | 'tiny-nest', rootDisk: boolean, carried?: Map<string, string>): Promise<BootInputs> {
  const current = await buildImage(name, { quiet: true });
  const overlay = imageRootDisk({ vm: c.ref.paths });
  const local = c.machine.local;
  // A root disk on this host boots with the kernel and initramfs of the image it was made from.
  const img =
    local && rootDisk && !c.fresh && existsSync(overlay)
      ? await imageOfOverlay(c.place.vm.name, overlay, current, readState(kitPaths(c.lab.name, c.place.vm.name).vm))
      : current;
  // Another image than the disk's (tiny → tiny-nest in the spec): the old system would boot under the new name.
  const made = posix.basename(img.dir).replace(/-[0-9a-f]{16}$/, '');
  if (made !== name) throw otherImage(c, made, name);
  if (img.hash !== current.hash)
    c.warn?.(`${c.place.vm.name}: keeps image ${img.hash}, which its root disk was made from; boot --fresh moves it to ${current.hash} (its changes are lost)`);
  const ip = imagePaths(img);
  const there = (f: string) => c.machine.stashPath(c.ref, `${name}-${img.hash}`, posix.basename(f));
  const kernel = await deliver(c, ip.kernel, there(ip.kernel));
  const initrd = rootDisk ? await deliver(c, ip.initrdDisk, there(ip.initrdDisk)) : await deliver(c, ip.initrd, there(ip.initrd));
  const image: VmState['image'] = { hash: img.hash, hostKeyPub: img.hostKeyPub, dir: img.dir };
  return {
    inputs: { images: { [name]: { kernel, initrd, initrdDisk: initrd } } },
    // The overlay keeps the guest's writes; the cached image stays untouched.
    overlays: rootDisk
      ? [{ file: overlay, backing: carried?.get(ip.rootDisk) ?? (await deliver(c, ip.rootDisk, there(ip.rootDisk))), backingFormat: 'qcow2', replace: c.fresh }]
      : [],
    hostKey: img.hostKeyPub,
    image,
  };
}

/** A root disk made from another image than the spec boots now: said, with how to make it anew. */
const otherImage = (c: Ctx, was: string, now: string) =>
  new TaskError(`${c.place.vm.name}'s root disk was made from ${was}; its spec now boots ${now}`, {
    hint: `make it anew from the spec's image, losing what the guest wrote on it: npx tsx tasks.ts up ${c.lab.name} --fresh (or boot ${c.place.vm.name} --fresh)`,
  });

/** The image an existing overlay was made from: the current one, or an older one still cached. */
async function imageOfOverlay(
  name: string,
  overlay: string,
  current: BuiltImage,
  state: VmState | undefined,
): Promise<Pick<BuiltImage, 'dir' | 'files' | 'hash' | 'hostKeyPub'>> {
  if (state?.image?.hash === current.hash) return current;
  const backing = (await imgInfo(overlay))['backing-filename'];
  // Its image's folder in the cache: a libvirt domain's overlay backs onto the pool's copy,
  // a volume named after that folder.
  const folder = backing && (folderOfVolume(posix.basename(backing)) ?? posix.basename(dirname(backing)));
  const dir = folder ? join(dirname(current.dir), folder) : '';
  if (dir === current.dir) return current;
  const old = dir ? readManifest(dir) : undefined;
  if (!old)
    throw new TaskError(`${name}'s root disk was made from an image that is no longer usable (${backing ?? 'no backing file'})`, {
      hint: `boot ${name} --fresh makes a new root disk from the current image (the guest's changes are lost)`,
    });
  return { ...old, dir };
}

/** A cloud image: an overlay on it, the seed (made here, with the host key kept here), kernel and initramfs for a direct boot. */
async function cloudImage(c: Ctx, boot: Extract<VmPlace['vm']['boot'], { cloudImage: string }>, carried?: Map<string, string>): Promise<BootInputs> {
  const vm = c.place.vm;
  const hostPaths = kitPaths(c.lab.name, vm.name);
  const files = await cloudImageFiles(vm, boot, hostPaths);
  // A dry run names the seed it would make (and never makes keys).
  const seed = c.dryRun
    ? { seed: join(hostPaths.vm.dir, VM_FILES.seed), hostKey: undefined }
    : await cloudSeed(c.lab.name, vm, hostPaths.vm.dir, labKeys(c.lab.name).publicKey);
  const inFolder = (f: string) => `${c.ref.paths.dir}/${posix.basename(f)}`;
  const kitDir = (f: string) => imageThere(c, f);
  const backing = carried?.get(files.image) ?? (await deliver(c, files.image, kitDir(files.image)));
  // A root disk made from another image than the spec's now (debian → debian-nest): booting it
  // would run the old system, and, booted directly, under the new image's kernel.
  const overlay = imageRootDisk({ vm: c.ref.paths });
  if (c.machine.readsHostFiles && !c.fresh && existsSync(overlay)) {
    const was = (await imgInfo(overlay))['backing-filename'];
    if (was && resolve(was) !== resolve(backing)) throw otherImage(c, was, backing);
  }
  return {
    inputs: {
      cloud: {
        seed: await deliver(c, seed.seed, inFolder(seed.seed)),
        kernel: files.kernel && (await deliver(c, files.kernel, kitDir(files.kernel))),
        initrd: files.initrd && (await deliver(c, files.initrd, kitDir(files.initrd))),
      },
    },
    overlays: [
      {
        file: imageRootDisk({ vm: c.ref.paths }),
        backing,
        backingFormat: (await imgInfo(files.image)).format === 'raw' ? 'raw' : 'qcow2',
        size: boot.size,
        replace: c.fresh,
      },
    ],
    hostKey: seed.hostKey,
    slow: true,
  };
}

/** A disk, kernel or ISO boot: the disk made where the VM runs (a child's in its folder in the parent), files delivered there. */
async function plainBoot(c: Ctx, carried?: Map<string, string>): Promise<BootInputs> {
  const vm = c.place.vm;
  const hostPaths = kitPaths(c.lab.name, vm.name);
  const machinePaths = { home: c.machine.home, vm: c.ref.paths };
  const boot = vm.boot;
  let as: BootInputs['as'] = {};
  if (typeof boot === 'object' && !('cloudImage' in boot) && 'kernel' in boot) {
    const kernel = await deliver(c, expandPath(boot.kernel, hostPaths), `${c.ref.paths.dir}/${VM_FILES.kernel}`);
    const initrd = boot.initrd ? await deliver(c, expandPath(boot.initrd, hostPaths), `${c.ref.paths.dir}/${VM_FILES.initrd}`) : undefined;
    as = { boot: { ...boot, kernel, initrd } };
  } else if (typeof boot === 'object' && 'iso' in boot && carried) as = { boot: { iso: carried.get(expandPath(boot.iso, hostPaths)) ?? boot.iso } };
  const disk = vm.disk;
  if (!disk) return { inputs: {}, as };
  const from = disk.backing ? expandPath(disk.backing, hostPaths) : undefined;
  // The disk is in the VM's folder where its QEMU runs (this host's state folder, a libvirt
  // pool's, a parent's); its backing file as that QEMU may read it: where it is on this host,
  // copied into a libvirt pool (libvirt's QEMU user may not read the kit's folders), or
  // carried into a parent.
  const file = expandPath(disk.file, machinePaths);
  const backing = from && (carried?.get(from) ?? (await deliver(c, from, imageThere(c, from))));
  if (c.machine.local) {
    if (!existsSync(file) && !c.dryRun) {
      c.warn?.(`${vm.name}: creating its disk ${file}`);
      await createDisk(file, { format: disk.format, size: disk.size, backing });
    }
    return { inputs: {}, as: { ...as, disk: { ...disk, file } } };
  }
  // Inside a parent (or on a libvirt server): qcow2 in the VM's folder there, on a carried
  // (or copied) backing file, or blank.
  const format = disk.backing ? ((await imgInfo(expandPath(disk.backing, hostPaths))).format === 'raw' ? 'raw' : 'qcow2') : undefined;
  return {
    inputs: {},
    overlays: [{ file, backing, backingFormat: format, size: disk.size, replace: c.fresh }],
    as: { ...as, disk: { ...disk, file, format: 'qcow2', backing: undefined } },
  };
}

/** A child of a tiny-nest parent boots the tiny image that parent carries, on an overlay inside it. */
async function insideTinyNest(c: Ctx): Promise<BootInputs> {
  const { lab, place, ref } = c;
  const parentVm = place.parent!;
  // The child image is the one inside the image the parent really runs (a parent keeps the
  // image its root disk came from), not necessarily the newest.
  const parentImage = readState(kitPaths(lab.name, parentVm.name).vm)?.image;
  const img = parentImage?.dir ? { dir: parentImage.dir, hash: parentImage.hash } : await buildNestImage({ quiet: true });
  const hostKey = childOf(img)?.hostKeyPub;
  if (!hostKey)
    throw new TaskError(`the nest image ${img.hash} in ${img.dir} does not say which host key its child image has`, {
      hint: `rebuild the parent's root disk: npx tsx tasks.ts boot ${parentVm.name} --fresh`,
    });
  const images = { tiny: { kernel: `${GUEST_IMAGE_DIR}/vmlinuz`, initrd: `${GUEST_IMAGE_DIR}/initrd.img`, initrdDisk: `${GUEST_IMAGE_DIR}/initrd-disk.img` } };
  const overlays = [{ file: imageRootDisk({ vm: ref.paths }), backing: `${GUEST_IMAGE_DIR}/root.qcow2`, backingFormat: 'qcow2' as const, replace: c.fresh }];
  return { inputs: { images }, overlays, hostKey };
}
