// `graintime [--at ISO]` prints the stamp for an instant; `graintime parse STAMP` checks one.
import type { TaskContext } from '../cli/registry.ts';
import { UsageError } from '../util/errors.ts';
import { graintimeConfig } from '../graintime/config.ts';
import { computeGraintime, parseStamp, readableDate } from '../graintime/stamp.ts';
import { daysInMonth, instantOf } from '../graintime/local-time.ts';

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

export function run(ctx: TaskContext): void {
  const [action, stamp, ...extra] = ctx.args;
  if (action === 'parse') {
    if (!stamp)
      throw new UsageError(
        'graintime parse needs a STAMP',
        'e.g. npx tsx tasks.ts graintime parse 12025-11-02--1515--pdt--moon-shatabhisha--asc-pisc00--sun-09h--kae3g',
      );
    if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    const r = parseStamp(stamp);
    if (!r.ok) throw new UsageError(`invalid graintime stamp ${JSON.stringify(stamp)}: ${r.reason}`);
    ctx.out.result({ stamp, ...r.fields, date: readableDate(r.fields) }, () => describe(r.fields, stamp));
    return;
  }
  if (action !== undefined)
    throw new UsageError(`unknown action ${JSON.stringify(action)}`, 'graintime [--at ISO-8601] prints a stamp; graintime parse STAMP checks one');
  const config = graintimeConfig({ lat: str(ctx.opts.lat), lon: str(ctx.opts.lon), tz: str(ctx.opts.tz), author: str(ctx.opts.author) });
  const at = parseInstant(str(ctx.opts.at), config.place.timeZone);
  const g = computeGraintime(at, config.place, config.author);
  ctx.out.result({ ...g, sources: config.sources }, g.stamp);
}

/** An ISO-8601 instant; without an offset (or without a time) it is wall-clock time in `timeZone` (--tz), not in this process's zone. */
export function parseInstant(text: string | undefined, timeZone = 'UTC'): Date {
  if (text === undefined) return new Date();
  // Date.parse accepts much; ISO-8601 with a date is what we promise.
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.exec(text);
  const bad = () =>
    new UsageError(
      `--at: ${JSON.stringify(text)} is not an ISO-8601 instant`,
      'e.g. --at 2025-11-02T15:15:00-08:00, --at 2025-11-02T23:15Z, or --at 2025-11-02T15:15 (in --tz)',
    );
  if (!m) throw bad();
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [number, number, number, number, number, number];
  // V8 rolls 2025-02-30 over to March; a day the month does not have is a typo, not a date.
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) throw bad();
  const ms = Number((m[7] ?? '0').padEnd(3, '0'));
  const at = m[8] ? new Date(text) : instantOf({ year, month, day, hour, minute, second, ms }, timeZone);
  if (Number.isNaN(at.getTime())) throw bad();
  return at;
}

function describe(f: ReturnType<typeof parseStamp> extends infer R ? (R extends { ok: true; fields: infer F } ? F : never) : never, stamp: string): string {
  return [
    stamp,
    `  date     ${readableDate(f)} (Holocene year ${f.holoceneYear})`,
    `  moon     in ${f.moon}`,
    `  rising   ${f.ascSign} ${f.ascDegree}°`,
    `  sun      in house ${f.sunHouse}`,
    `  author   ${f.author}`,
  ].join('\n');
}
