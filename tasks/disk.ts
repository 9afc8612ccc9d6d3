// `disk-create VM` and `disk-info VM`: the VM's image through qemu-img.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TaskContext } from './kit/registry.ts';
import { loadVm } from './kit/load.ts';
import { expandPath, kitPaths } from './kit/paths.ts';
import { run } from './kit/exec.ts';
import { TaskError, UsageError } from './kit/errors.ts';
import { formatBytes } from './kit/size.ts';

async function diskOf(ctx: TaskContext) {
  const { lab, place } = await loadVm(ctx.args[0]!, { spec: ctx.spec, lab: ctx.opts.lab as string | undefined });
  const disk = place.vm.disk;
  if (!disk) throw new UsageError(`VM ${place.vm.name} has no disk (${place.path}.disk is not set)`);
  const file = expandPath(disk.file, kitPaths(lab.name, place.vm.name));
  return { lab, place, disk, file };
}

export interface ImgInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'backing-filename'?: string;
  snapshots?: unknown[];
}

/** `qemu-img info -U` reads even while QEMU holds the image's write lock. */
export async function imgInfo(file: string): Promise<ImgInfo> {
  const r = await run(['qemu-img', 'info', '-U', '--output=json', file], { hint: 'is the file a disk image?' });
  return JSON.parse(r.stdout) as ImgInfo;
}

export function describeInfo(i: ImgInfo): string {
  return [
    `file:         ${i.filename}`,
    `format:       ${i.format}`,
    `virtual size: ${formatBytes(i['virtual-size'])} (${i['virtual-size']} bytes)`,
    ...(i['actual-size'] !== undefined ? [`on disk:      ${formatBytes(i['actual-size'])}`] : []),
    ...(i['backing-filename'] ? [`backing file: ${i['backing-filename']}`] : []),
    `snapshots:    ${i.snapshots?.length ?? 0}`,
  ].join('\n');
}

export async function create(ctx: TaskContext): Promise<void> {
  const { disk, file } = await diskOf(ctx);
  if (existsSync(file) && !ctx.opts.force)
    throw new TaskError(`${file} already exists; not overwriting it`, { hint: 'pass --force to replace it (its data is lost)' });
  const cmd = ['qemu-img', 'create', '-q', '-f', disk.format];
  if (disk.backing) {
    const backing = expandPath(disk.backing, { home: kitPaths('x', 'x').home, vm: { dir: dirname(file) } });
    if (!existsSync(backing)) throw new UsageError(`backing file not found: ${backing}`);
    cmd.push('-b', backing, '-F', (await imgInfo(backing)).format);
  }
  cmd.push(file);
  if (disk.size !== undefined) cmd.push(String(disk.size));
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  await run(cmd, { hint: 'check free space and permissions of the folder' });
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
