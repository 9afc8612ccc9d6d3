// Which qcow2 files hold a VM's snapshots, in the filesystem its QEMU runs in (the host's,
// or its parent's for a nested VM) — or why it cannot have any.
import { UsageError } from '../util/errors.ts';
import { expandPath, type VmPaths } from '../util/paths.ts';
import { efiVars, imageRootDisk } from '../qemu/args.ts';
import type { VmResolved } from '../spec/tree.ts';

export function snapshotDisks(vm: VmResolved, paths: { home: string; vm: VmPaths }): string[] {
  const files: string[] = [];
  const boot = vm.boot;
  const imageBoot = typeof boot === 'object' && 'image' in boot ? boot : undefined;
  if (imageBoot?.root === 'disk' || (typeof boot === 'object' && 'cloudImage' in boot)) files.push(imageRootDisk(paths));
  if (vm.disk) {
    if (vm.disk.format !== 'qcow2')
      throw new UsageError(
        `${vm.name} cannot be snapshotted: its disk ${vm.disk.file} is ${vm.disk.format}, and only qcow2 holds snapshots`,
        'convert it: qemu-img convert -O qcow2 IN OUT, and set disk.format: "qcow2"',
      );
    files.push(expandPath(vm.disk.file, paths));
  }
  // The UEFI variable store is a writable drive too; it holds the VM state only when nothing else can.
  if (files.length && vm.firmware === 'uefi') files.push(efiVars(paths));
  if (!files.length) {
    const why = imageBoot ? 'its root is in RAM (boot.root: "ram") and it has no disk' : 'it has no disk';
    throw new UsageError(
      `${vm.name} cannot be snapshotted: ${why}, so there is nowhere to keep a snapshot`,
      imageBoot ? 'boot it with boot.root: "disk" (the default), a qcow2 overlay of the image' : 'give it a qcow2 disk in the spec',
    );
  }
  return files;
}
