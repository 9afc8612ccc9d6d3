// Disk images through qemu-img: create (plain or as an overlay) and inspect.
import { inputFileProblem } from '../util/file-checks.ts';
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { runQemuTool } from './which.ts';
import { TaskError, UsageError } from '../util/errors.ts';
import { formatBytes } from '../spec/size.ts';

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
  const r = await runQemuTool(['qemu-img', 'info', '-U', '--output=json', file], { hint: 'is the file a disk image?' });
  return JSON.parse(r.stdout) as ImgInfo;
}

export interface NewDisk {
  format: 'qcow2' | 'raw';
  size?: number; // bytes; from the backing file when absent
  backing?: string; // absolute path
}

/** Creates `file`; refuses to replace an existing one unless `force`. */
export async function createDisk(file: string, disk: NewDisk, force = false): Promise<void> {
  if (existsSync(file) && !force) throw new TaskError(`${file} already exists; not overwriting it`, { hint: 'pass --force to replace it (its data is lost)' });
  const cmd = ['qemu-img', 'create', '-q', '-f', disk.format];
  if (disk.backing) {
    const problem = inputFileProblem(disk.backing);
    if (problem) throw new UsageError(`backing file ${disk.backing} ${problem}`);
    cmd.push('-b', disk.backing, '-F', (await imgInfo(disk.backing)).format);
  }
  cmd.push(file);
  if (disk.size !== undefined) cmd.push(String(disk.size));
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const existed = existsSync(file);
  try {
    await runQemuTool(cmd, { hint: 'check free space and permissions of the folder' });
    // qemu-img honours the umask (0644 here); a guest's disk is its owner's alone.
    chmodSync(file, 0o600);
  } catch (err) {
    // A failed create (a full disk, say) may leave a truncated image: never keep half a file.
    if (!existed) rmSync(file, { force: true });
    throw err;
  }
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
