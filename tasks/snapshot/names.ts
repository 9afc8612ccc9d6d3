// Snapshot names: what a qcow2 tag may be here, and how a graintime name is decoded.
import { parseStamp, readableDate, type StampFields } from '../graintime/stamp.ts';
import { UsageError } from '../util/errors.ts';

/**
 * Letters, digits, `_`, `-` and `.`, 1–127 long, not starting with `-` or `.`, no `..`,
 * and not all digits: QEMU looks snapshots up by id as well as name, so "3" could mean
 * the third snapshot.  Safe in shells, file names and git branch names.
 */
export const SNAPSHOT_NAME_RE = /^(?![0-9]+$)(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_.-]{0,126}$/;

export function checkSnapshotName(name: string): string | undefined {
  if (SNAPSHOT_NAME_RE.test(name) && !name.endsWith('.') && !name.endsWith('.lock')) return undefined;
  if (/^[0-9]+$/.test(name)) return `${JSON.stringify(name)} is all digits, which QEMU would take for a snapshot id`;
  if (name.length > 127) return `the name is ${name.length} characters; at most 127`;
  return `${JSON.stringify(name)} must be letters, digits, _, - and . (not first, no "..", not ending in "." or ".lock")`;
}

/** A second snapshot in the same minute gets `.2`, `.3`…; decoding ignores the suffix. */
export function nextFreeName(base: string, taken: Set<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}.${i}`)) return `${base}.${i}`;
}

export function decodeName(name: string): { fields: StampFields; date: string } | null {
  const r = parseStamp(name.replace(/\.\d+$/, ''));
  return r.ok ? { fields: r.fields, date: readableDate(r.fields) } : null;
}

/** A snapshot name given as `--OPT NAME` (--name, --from), checked; undefined when the option is absent. */
export function snapshotNameOption(opts: Record<string, string | boolean | undefined>, opt: string): string | undefined {
  const name = opts[opt];
  if (name === undefined) return undefined;
  if (typeof name !== 'string' || !name) throw new UsageError(`--${opt} needs a snapshot NAME`);
  const bad = checkSnapshotName(name);
  if (bad) throw new UsageError(`--${opt}: ${bad}`);
  return name;
}
