// Wall-clock fields of an instant in an IANA time zone, from Node's Intl (full ICU).
import { UsageError } from '../util/errors.ts';

export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** Lowercase abbreviation safe in names: "pdt", "utc", or "utcp0530" where ICU has no letters. */
  zone: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        era: 'short',
        timeZoneName: 'short',
      });
    } catch {
      throw new UsageError(`unknown time zone ${JSON.stringify(timeZone)}`, 'use an IANA name such as America/Los_Angeles, Europe/Berlin or UTC');
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** Milliseconds since the epoch of a wall-clock reading taken as UTC; Date.UTC alone maps years 0–99 to 1900–1999. */
function utcOf(year: number, month: number, day: number, hour: number, minute: number, second: number, ms: number): number {
  const d = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, ms));
  d.setUTCFullYear(year);
  return d.getTime();
}

/** Days in `month` (1–12) of `year`, any year (Date.UTC would read 0–99 as 1900–1999). */
export function daysInMonth(year: number, month: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, 0);
  return d.getUTCDate();
}

/** How far `timeZone`'s wall clock is ahead of UTC at `t` (local mean time has seconds too). */
function offsetMs(t: number, timeZone: string): number {
  const parts = Object.fromEntries(
    formatter(timeZone)
      .formatToParts(new Date(t))
      .map((p) => [p.type, p.value]),
  );
  const year = parts.era === 'BC' || parts.era === 'B' ? 1 - Number(parts.year) : Number(parts.year);
  const at = new Date(t);
  return utcOf(year, Number(parts.month), Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second), at.getUTCMilliseconds()) - t;
}

/**
 * The instant when the wall clock in `timeZone` reads these fields: the zone's offset at a
 * first guess, then at the corrected instant (right on either side of a DST change).
 */
export function instantOf(f: { year: number; month: number; day: number; hour: number; minute: number; second?: number; ms?: number }, timeZone: string): Date {
  const wall = utcOf(f.year, f.month, f.day, f.hour, f.minute, f.second ?? 0, f.ms ?? 0);
  let t = wall - offsetMs(wall, timeZone);
  t = wall - offsetMs(t, timeZone);
  return new Date(t);
}

/** Throws a UsageError naming the zone when it is not an IANA time zone. */
export function checkTimeZone(timeZone: string): void {
  formatter(timeZone);
}

export function localTime(at: Date, timeZone: string): LocalTime {
  const parts = Object.fromEntries(
    formatter(timeZone)
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  // Intl counts years by era (1 BC, 1 AD); the stamp's year is astronomical (year 0 = 1 BC).
  const eraYear = Number(parts.year);
  return {
    year: parts.era === 'BC' || parts.era === 'B' ? 1 - eraYear : eraYear,
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    zone: zoneWord(parts.timeZoneName ?? 'UTC'),
  };
}

/**
 * ICU's short names are letters where English has a common abbreviation (PDT, EST, UTC)
 * and "GMT+5:30" elsewhere; the latter becomes "utcp0530" / "utcm03" so that a stamp
 * stays within [0-9a-z_-] (no "+" or ":" in file or branch names).
 */
export function zoneWord(icuName: string): string {
  if (/^[A-Z]{2,6}$/.test(icuName)) return icuName.toLowerCase();
  // Local mean time before standard zones has seconds too: GMT-7:52:58 → utcm075258.
  const m = /^(?:GMT|UTC)(?:([+-])(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?)?$/.exec(icuName);
  if (!m) return icuName.toLowerCase().replace(/[^a-z0-9]+/g, '_');
  if (!m[1]) return 'utc';
  return `utc${m[1] === '+' ? 'p' : 'm'}${m[2]!.padStart(2, '0')}${m[3] ?? (m[4] ? '00' : '')}${m[4] ?? ''}`;
}
