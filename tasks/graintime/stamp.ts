// tasks/graintime/: the graintime stamps that name snapshots and suspends — the moment's date
// and sky, offline.
//
// A graintime stamp: the moment's date and sky in one name that is safe in file names,
// qcow2 snapshot tags and git branch names.  computeGraintime asks the ephemeris;
// formatStamp and parseStamp are pure and inverse to each other.
//   12025-11-02--1515--pdt--moon-shatabhisha--asc-pisc00--sun-09h--kae3g
import { UsageError } from '../util/errors.ts';
import { NAKSHATRAS, SIGNS, nakshatraOf, signOf, type Nakshatra, type Sign } from './names.ts';
import { ascendantSidereal, moonSidereal, sunHouse, type Place, type SunHouse } from './sky.ts';
import { localTime } from './local-time.ts';

export interface StampFields {
  /** Holocene year: Gregorian + 10000. */
  holoceneYear: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  zone: string;
  moon: Nakshatra;
  ascSign: Sign;
  ascDegree: number;
  sunHouse: number;
  author: string;
}

export interface Graintime {
  stamp: string;
  fields: StampFields;
  /** What the fields were computed from and the exact values behind them. */
  at: string;
  place: Place & { timeZone: string };
  moonLongitude: number;
  ascendantLongitude: number;
  sun: SunHouse;
}

/** An author word: lowercase letters, digits, underscores; single dashes between words. */
export const AUTHOR_RE = /^[a-z0-9_]+(?:-[a-z0-9_]+)*$/;

const STAMP_RE = /^(\d{5})-(\d{2})-(\d{2})--(\d{2})(\d{2})--([a-z0-9_]+)--moon-([a-z_]+)--asc-([a-z_]{4})(\d{2})--sun-(\d{2})h--([a-z0-9_]+(?:-[a-z0-9_]+)*)$/;

/** Lowercase an author name and replace what a stamp cannot hold, so `$USER` always works. */
export function authorWord(raw: string): string {
  const word = raw
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '_')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
  return word || 'anon';
}

export function computeGraintime(at: Date, place: Place & { timeZone: string }, author: string): Graintime {
  if (Number.isNaN(at.getTime())) throw new UsageError('the instant is not a valid date');
  const local = localTime(at, place.timeZone);
  const moonLongitude = moonSidereal(at);
  const ascendantLongitude = ascendantSidereal(at, place);
  const asc = signOf(ascendantLongitude);
  const sun = sunHouse(at, place);
  const fields: StampFields = {
    holoceneYear: local.year + 10000,
    month: local.month,
    day: local.day,
    hour: local.hour,
    minute: local.minute,
    zone: local.zone,
    moon: nakshatraOf(moonLongitude),
    ascSign: asc.sign,
    ascDegree: asc.degree,
    sunHouse: sun.house,
    author: authorWord(author),
  };
  return { stamp: formatStamp(fields), fields, at: at.toISOString(), place, moonLongitude, ascendantLongitude, sun };
}

const two = (n: number) => String(n).padStart(2, '0');

export function formatStamp(f: StampFields): string {
  return (
    `${f.holoceneYear}-${two(f.month)}-${two(f.day)}--${two(f.hour)}${two(f.minute)}--${f.zone}` +
    `--moon-${f.moon}--asc-${f.ascSign}${two(f.ascDegree)}--sun-${two(f.sunHouse)}h--${f.author}`
  );
}

export type ParseResult = { ok: true; fields: StampFields } | { ok: false; reason: string };

/** Validate a stamp field by field; the reason names the first field that is wrong. */
export function parseStamp(stamp: string): ParseResult {
  const m = STAMP_RE.exec(stamp);
  if (!m) {
    return {
      ok: false,
      reason:
        'not a graintime stamp: expected YYYYY-MM-DD--HHMM--zone--moon-NAKSHATRA--asc-SIGNDD--sun-HHh--author, e.g. 12025-11-02--1515--pdt--moon-shatabhisha--asc-pisc00--sun-09h--kae3g',
    };
  }
  const [, y, mo, d, h, mi, zone, moon, sign, deg, house, author] = m as unknown as string[];
  const fields: StampFields = {
    holoceneYear: Number(y),
    month: Number(mo),
    day: Number(d),
    hour: Number(h),
    minute: Number(mi),
    zone: zone!,
    moon: moon as Nakshatra,
    ascSign: sign as Sign,
    ascDegree: Number(deg),
    sunHouse: Number(house),
    author: author!,
  };
  const bad = (field: string, why: string): ParseResult => ({ ok: false, reason: `${field}: ${why}` });
  if (fields.holoceneYear < 10000) return bad('year', `${y} is before the Holocene era's year 10000 (1 BCE + 1)`);
  if (fields.month < 1 || fields.month > 12) return bad('month', `${mo} is not 01–12`);
  const days = new Date(Date.UTC(fields.holoceneYear - 10000, fields.month, 0)).getUTCDate();
  if (fields.day < 1 || fields.day > days) return bad('day', `${d} is not a day of ${y}-${mo} (01–${days})`);
  if (fields.hour > 23) return bad('hour', `${h} is not 00–23`);
  if (fields.minute > 59) return bad('minute', `${mi} is not 00–59`);
  if (!(NAKSHATRAS as readonly string[]).includes(fields.moon)) return bad('moon', `${JSON.stringify(moon)} is not a nakshatra (${NAKSHATRAS.join(', ')})`);
  if (!(SIGNS as readonly string[]).includes(fields.ascSign)) return bad('asc', `${JSON.stringify(sign)} is not a sign (${SIGNS.join(', ')})`);
  if (fields.ascDegree > 29) return bad('asc', `degree ${deg} is not 00–29`);
  if (fields.sunHouse < 1 || fields.sunHouse > 12) return bad('sun', `house ${house} is not 01–12`);
  return { ok: true, fields };
}

/** "2025-11-02 15:15 pdt": the wall-clock moment a stamp names, for people. */
export function readableDate(f: StampFields): string {
  return `${f.holoceneYear - 10000}-${two(f.month)}-${two(f.day)} ${two(f.hour)}:${two(f.minute)} ${f.zone}`;
}

/** A key that sorts stamps by their wall-clock moment (zones aside). */
export const stampSortKey = (f: StampFields) => `${f.holoceneYear}${two(f.month)}${two(f.day)}${two(f.hour)}${two(f.minute)}`;
