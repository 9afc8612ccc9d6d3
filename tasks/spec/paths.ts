// The one rule for file paths a spec names.  A relative path in a spec is inside the VM's
// state folder (util/paths.ts: expandPath), where the kit also keeps that VM's runtime files,
// so a spec path may name none of the kit's own files (util/paths.ts: VM_FILES): the checker
// and the kit read the same list and cannot drift.
import { posix } from 'node:path';
import { textProblem } from '../util/text.ts';
import { VM_FILES } from '../util/paths.ts';

/** The kit's own file `name`, or one it writes beside it first (`seed.iso.tmp`, `x.pub`, `x.part`). */
function kitFile(name: string): string | undefined {
  return Object.values(VM_FILES).find((k) => name === k || ['.tmp', '.pub', '.part'].some((x) => name === k + x));
}

/**
 * Why `file` may not be a spec path, or undefined when it may: one line of text; a relative
 * one stays inside the VM's folder and names none of the kit's files there.
 */
export function specPathProblem(file: string): string | undefined {
  const text = textProblem(file, 'line');
  if (text) return text;
  if (file === '~' || file.startsWith('~/') || posix.isAbsolute(file)) return undefined;
  if (file.startsWith('~')) return `"${file}": only ~/ (your home) is understood, not ~user; write the full path`;
  const norm = posix.normalize(file);
  if (norm === '.' || norm === '..' || norm.startsWith('../'))
    return `"${file}" leaves the VM's state folder (a relative path is inside it); give an absolute path or ~/… for a file elsewhere`;
  if (file.endsWith('/')) return `"${file}" names a folder, not a file`;
  const first = norm.split('/')[0]!;
  const kit = kitFile(first);
  if (kit) return `"${file}" is the kit's own ${kit} in the VM's state folder; choose another name (reserved: ${Object.values(VM_FILES).join(', ')})`;
  return undefined;
}
