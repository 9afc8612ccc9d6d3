// Which files of this host a parent is handed for its children: each child's image (or
// cloud image, ISO, disk backing file), attached to the parent as a read-only disk with a
// serial of its own, so that inside, the child's overlay backs onto the device: no copy.
// A parent booting `tiny-nest` carries the tiny image inside its own image instead.
import { createHash } from 'node:crypto';
import { expandPath, kitPaths } from '../util/paths.ts';
import type { CarriedDisk } from '../qemu/args.ts';
import type { LabResolved, VmPlace, VmResolved } from '../spec/tree.ts';
import { buildImage, imagePaths } from '../image/build.ts';
import { cloudImageFiles } from '../cloud/prepare.ts';

export interface Carried extends CarriedDisk {}

/** A tiny-nest parent has its children's image in its own. */
export const carriesInside = (parent: VmResolved) => typeof parent.boot === 'object' && 'image' in parent.boot && parent.boot.image === 'tiny-nest';

/** The virtio serial of a carried file: stable per path, and within virtio-blk's 20 bytes. */
export const serialOf = (file: string) => `gc-${createHash('sha256').update(file).digest('hex').slice(0, 16)}`;

/** The files of this host that `place` (a child) boots from, and that its parent must be handed. */
export async function carryFor(lab: LabResolved, place: VmPlace): Promise<Carried[]> {
  const vm = place.vm;
  const hostPaths = kitPaths(lab.name, vm.name);
  const boot = vm.boot;
  const files: string[] = [];
  if (typeof boot === 'object' && 'image' in boot && boot.root === 'disk') files.push(imagePaths(await buildImage(boot.image, { quiet: true })).rootDisk);
  if (typeof boot === 'object' && 'cloudImage' in boot) files.push((await cloudImageFiles(vm, boot, hostPaths)).image);
  if (typeof boot === 'object' && 'iso' in boot) files.push(expandPath(boot.iso, hostPaths));
  if (vm.disk?.backing) files.push(expandPath(vm.disk.backing, hostPaths));
  return files.map((file) => ({ file, serial: serialOf(file) }));
}

/** What a VM must be handed for its children, each file once. */
export async function carriedBy(lab: LabResolved, place: VmPlace): Promise<Carried[]> {
  if (!place.vm.children.length || carriesInside(place.vm)) return [];
  const all = new Map<string, Carried>();
  for (const [i, vm] of place.vm.children.entries())
    for (const c of await carryFor(lab, { vm, parent: place.vm, depth: place.depth + 1, path: `${place.path}.children[${i}]` })) all.set(c.file, c);
  return [...all.values()];
}
