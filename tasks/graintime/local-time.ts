// Wall-clock fields of an instant in an IANA time zone, from Node's Intl (full ICU).
import { UsageError } from '../kit/errors.ts';

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
        timeZoneName: 'short',
      });
    } catch {
      throw new UsageError(`unknown time zone ${JSON.stringify(timeZone)}`, 'use an IANA name such as America/Los_Angeles, Europe/Berlin or UTC');
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** Throws a UsageError naming the zone when it is not an IANA time zone. */
export function checkTimeZone(timeZone: string): void {
  formatter(timeZone);
}

export function localTime(at: Date, timeZone: string): LocalTime {
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(at).map((p) => [p.type, p.value]));
  return {
    year: Number(parts.year),
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
  const m = /^(?:GMT|UTC)(?:([+-])(\d{1,2})(?::(\d{2}))?)?$/.exec(icuName);
  if (!m) return icuName.toLowerCase().replace(/[^a-z0-9]+/g, '_');
  if (!m[1]) return 'utc';
  return `utc${m[1] === '+' ? 'p' : 'm'}${m[2]!.padStart(2, '0')}${m[3] ?? ''}`;
}
