// Paths a user hands the kit, checked before anything is written or started: a file to read
// that is a folder (or missing, or unreadable), a file to write where a folder is (or with no
// folder to hold it), a folder to write into where a file is.  Each gives one line saying what
// is wrong, for a UsageError that names the field or flag; undefined when the path will do.
import { accessSync, constants, type Stats, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from './errors.ts';

/** What stat tells of the path: its Stats, 'missing' (or behind a file), or why it cannot be looked at. */
function look(path: string): Stats | 'missing' | string {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    return code === 'EACCES' || code === 'EPERM' ? 'cannot be reached: permission denied' : `cannot be looked at: ${(err as Error).message}`;
  }
}

const allowed = (path: string, mode: number) => {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
};

/** Why `path` cannot be read as a file: not found, a folder, or not readable. */
export function inputFileProblem(path: string): string | undefined {
  const st = look(path);
  if (st === 'missing') return 'not found';
  if (typeof st === 'string') return st;
  if (st.isDirectory()) return 'is a folder, not a file';
  if (!allowed(path, constants.R_OK)) return 'cannot be read: permission denied';
  return undefined;
}

/** Why a file cannot be written at `path`: a folder there, no folder to hold it, or neither writable. */
export function outputFileProblem(path: string): string | undefined {
  const st = look(path);
  if (typeof st === 'string' && st !== 'missing') return st;
  if (typeof st !== 'string') {
    if (st.isDirectory()) return 'is a folder, not a file';
    return allowed(path, constants.W_OK) ? undefined : 'cannot be written: permission denied';
  }
  const dir = dirname(path);
  const parent = look(dir);
  if (parent === 'missing') return `its folder ${dir} does not exist`;
  if (typeof parent === 'string') return `its folder ${dir} ${parent}`;
  if (!parent.isDirectory()) return `${dir} is a file, not a folder`;
  return allowed(dir, constants.W_OK) ? undefined : `its folder ${dir} cannot be written: permission denied`;
}

/** Why `path` cannot be a folder to write into (made, with its parents, when missing): a file there or on the way, or not writable. */
export function outputFolderProblem(path: string): string | undefined {
  for (let p = path; ; p = dirname(p)) {
    const st = look(p);
    if (st === 'missing') {
      if (dirname(p) === p) return 'not found';
      continue;
    }
    const at = p === path ? '' : `${p} `;
    if (typeof st === 'string') return `${at}${st}`;
    if (!st.isDirectory()) return p === path ? 'is a file, not a folder' : `${p} is a file, not a folder`;
    return allowed(p, constants.W_OK) ? undefined : `${at}cannot be written: permission denied`;
  }
}

/**
 * `what` (a flag, a field) names a folder the files `names` will be written into: refused with
 * exit 2 unless they can be.  The folder is made only when they are written, so a run refused
 * or failed before then leaves none behind.
 */
export function checkOutputFolder(what: string, dir: string, names: string[]): void {
  const fileProblem = (name: string) => {
    const file = join(dir, name);
    const problem = look(file) === 'missing' ? undefined : outputFileProblem(file);
    return problem && `${file} ${problem}`;
  };
  const problem = outputFolderProblem(dir) ?? names.map(fileProblem).find(Boolean);
  if (problem) throw new UsageError(`${what} ${dir}: ${problem}`);
}
