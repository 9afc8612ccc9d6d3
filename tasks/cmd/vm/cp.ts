// `cp SRC DST`: a file into or out of a VM (VM:path on one side) over SFTP — through the lab
// agent's open session when it takes the copy (no spec and no ssh2 loaded here), else over a
// session of its own.  The local side is checked here first, the same for both ways, so a
// bad path is named (exit 2) before any session, and either way copies to the same file.
import { statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { TaskContext } from '../../cli/registry.ts';
import { GuestWork } from './guest-work.ts';
import { UsageError } from '../../util/errors.ts';
import { NAME_RE } from '../../spec/name.ts';

export interface CopyEnd {
  vm?: string;
  path: string;
}

/** `vm:path` names a guest path; anything else is local (a `./` prefix forces local). */
export function parseCopyEnd(arg: string): CopyEnd {
  const m = /^([^/:]+):(.*)$/.exec(arg);
  if (m && NAME_RE.test(m[1]!)) {
    if (!m[2]) throw new UsageError(`cp: ${arg} names no path in ${m[1]}`);
    // A guest path says where it means: "..", climbing out of wherever the session starts, is refused.
    if (m[2].split('/').includes('..')) throw new UsageError(`cp: ${arg}: ".." is not allowed in a guest path`, 'give the path from / (e.g. vm:/root/file)');
    return { vm: m[1], path: m[2] };
  }
  if (!arg) throw new UsageError('cp: empty path');
  return { path: arg };
}

/** What is at `path`; undefined when nothing is (a file on the way counts as nothing). */
function kind(path: string) {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new UsageError(`cp: ${path}: ${(err as Error).message}`);
  }
}

/** The local file to read: it must be a regular file (a folder is not copied). */
export function localSource(path: string): string {
  const st = kind(path);
  if (!st) throw new UsageError(`cp: ${path}: no such file`);
  if (!st.isFile()) throw new UsageError(`cp: ${path} is ${st.isDirectory() ? 'a folder' : 'not a regular file'}; cp copies one file`);
  return resolve(path);
}

/** The local file to write: into a folder under the remote file's name (as cp and scp do); its folder must exist. */
export function localTarget(path: string, remote: string): string {
  const st = kind(path);
  if (st?.isDirectory()) return resolve(path, basename(remote));
  if (st && !st.isFile()) throw new UsageError(`cp: ${path} is not a regular file`);
  if (!st && path.endsWith('/')) throw new UsageError(`cp: no folder ${path}`);
  const folder = kind(dirname(resolve(path)));
  if (!folder?.isDirectory()) throw new UsageError(`cp: no folder ${dirname(path)} to write ${basename(path)} in`);
  return resolve(path);
}

export async function cp(ctx: TaskContext): Promise<void> {
  const [src, dst] = [parseCopyEnd(ctx.args[0]!), parseCopyEnd(ctx.args[1]!)];
  if (!!src.vm === !!dst.vm)
    throw new UsageError('cp: exactly one side must be VM:path', 'npx tsx tasks.ts cp ./file vm:/root/file  or  cp vm:/etc/os-release ./');
  const name = (src.vm ?? dst.vm)!;
  const direction = dst.vm ? 'put' : 'get';
  const remote = (dst.vm ? dst.path : src.path)!;
  const local = dst.vm ? localSource(src.path) : localTarget(dst.path, remote);
  const work = new GuestWork(ctx, name);
  try {
    if (direction === 'put') await work.put(local, remote);
    else await work.get(remote, local);
  } finally {
    work.close();
  }
  const result = { from: ctx.args[0], to: ctx.args[1], bytes: statSync(local).size };
  ctx.out.result(result, () => `copied ${result.bytes} bytes: ${result.from} → ${result.to}`);
}
