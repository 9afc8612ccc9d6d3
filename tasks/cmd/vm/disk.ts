// `disk-create VM` and `disk-info VM`: the VM's image through qemu-img.
import { existsSync } from 'node:fs';
import type { TaskContext } from '../../cli/registry.ts';
import { loadVm } from '../../spec/load.ts';
import { expandPath, kitPaths } from '../../util/paths.ts';
import { TaskError, UsageError } from '../../util/errors.ts';
import { createDisk, describeInfo, imgInfo } from '../../qemu/disk-image.ts';
import { checkHostInputFiles } from '../../vm/input-files.ts';

async function diskOf(ctx: TaskContext) {
  const { lab, place } = await loadVm(ctx.args[0]!, { spec: ctx.spec, lab: ctx.opts.lab as string | undefined });
  const disk = place.vm.disk;
  if (!disk) throw new UsageError(`VM ${place.vm.name} has no disk (${place.path}.disk is not set)`);
  // A nested VM's disk is a file inside its parent, made there by the boot (on the backing
  // image the parent is handed); a disk made here would never be the one it boots.
  if (place.parent)
    throw new UsageError(
      `${place.vm.name} runs inside ${place.parent.name}: its disk ${disk.file} is made there, not on this host`,
      `boot it and the disk is made inside ${place.parent.name}: npx tsx tasks.ts boot ${place.vm.name}`,
    );
  const paths = kitPaths(lab.name, place.vm.name);
  // The same paths the boot uses (inputs.ts): relative ones are in the VM's state folder.
  const file = expandPath(disk.file, paths);
  const backing = disk.backing ? expandPath(disk.backing, paths) : undefined;
  return { lab, place, disk, file, backing };
}

export async function create(ctx: TaskContext): Promise<void> {
  const { lab, place, disk, file, backing } = await diskOf(ctx);
  checkHostInputFiles(lab, place, (f) => f.field === 'disk.backing');
  await createDisk(file, { format: disk.format, size: disk.size, backing }, ctx.opts.force === true);
  ctx.out.info(`created ${file}`);
  const i = await imgInfo(file);
  ctx.out.result(i, () => describeInfo(i));
}

export async function info(ctx: TaskContext): Promise<void> {
  const { file } = await diskOf(ctx);
  if (!existsSync(file)) throw new TaskError(`${file} does not exist`, { hint: `create it: npx tsx tasks.ts disk-create ${ctx.args[0]}` });
  const i = await imgInfo(file);
  ctx.out.result(i, () => describeInfo(i));
}
