// graintime: physical invariants of the computed sky, not copied outputs.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from 'astronomy-engine';
import { NAKSHATRAS, nakshatraOf, signOf } from '../../tasks/graintime/names.ts';
import { ascendantSidereal, moonSidereal, nextDayEvent, sunHouse, sunSidereal, equalHoursHouse, type Place } from '../../tasks/graintime/sky.ts';
import { computeGraintime, formatStamp, parseStamp, authorWord } from '../../tasks/graintime/stamp.ts';
import { zoneWord, localTime } from '../../tasks/graintime/local-time.ts';
import { graintimeConfig, DEFAULT_PLACE } from '../../tasks/graintime/config.ts';
import { lahiriAyanamsa } from '../../tasks/graintime/ayanamsa.ts';

const MINUTE = 60_000;
const DAY = 86_400_000;
const PLACES: Record<string, Place & { timeZone: string }> = {
  sanRafael: DEFAULT_PLACE,
  berlin: { latitude: 52.52, longitude: 13.405, timeZone: 'Europe/Berlin' },
  sydney: { latitude: -33.87, longitude: 151.21, timeZone: 'Australia/Sydney' },
  quito: { latitude: -0.18, longitude: -78.47, timeZone: 'America/Guayaquil' },
  reykjavik: { latitude: 64.15, longitude: -21.94, timeZone: 'Atlantic/Reykjavik' },
};
/** Angular distance on a circle, degrees. */
const arc = (a: number, b: number) => Math.abs(((((a - b) % 360) + 540) % 360) - 180);

/** A seeded generator, so a failure names instants that can be replayed. */
function random(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

describe('graintime sky', () => {
  it('puts the Lahiri ayanamsa where the ephemerides do (23°51′ at J2000, 24°13′ in 2025)', () => {
    assert.ok(Math.abs(lahiriAyanamsa(0) - 23.857) < 0.002, String(lahiriAyanamsa(0)));
    const t2025 = A.MakeTime(new Date('2025-01-01T00:00Z')).tt;
    assert.ok(Math.abs(lahiriAyanamsa(t2025) - 24.21) < 0.01, String(lahiriAyanamsa(t2025)));
  });

  for (const [name, place] of Object.entries(PLACES)) {
    it(`${name}: the ascendant meets the Sun at sunrise, its opposite at sunset; houses turn at rise and noon`, () => {
      for (const day of ['2025-03-20', '2025-06-21', '2025-09-23', '2025-12-21', '2026-11-26']) {
        const dayStart = new Date(`${day}T00:00Z`);
        // Start half a day before the local day so the first sunrise found is that day's.
        const from = new Date(dayStart.getTime() - (place.longitude / 360) * DAY - DAY / 4);
        const rise = nextDayEvent(place, 'sunrise', from)!;
        const noon = nextDayEvent(place, 'noon', rise)!;
        const set = nextDayEvent(place, 'sunset', noon)!;
        const what = `${name} ${day}`;
        assert.ok(
          arc(ascendantSidereal(rise, place), sunSidereal(rise)) < 2,
          `${what}: asc at sunrise ${ascendantSidereal(rise, place)} vs sun ${sunSidereal(rise)}`,
        );
        assert.ok(arc(ascendantSidereal(set, place), sunSidereal(set) + 180) < 2, `${what}: asc at sunset vs sun + 180`);
        const at = (t: Date, dt: number) => sunHouse(new Date(t.getTime() + dt), place).house;
        assert.equal(at(rise, -MINUTE), 1, `${what}: a minute before sunrise`);
        assert.equal(at(rise, MINUTE), 12, `${what}: a minute after sunrise`);
        assert.equal(at(noon, -MINUTE), 10, `${what}: a minute before noon`);
        assert.equal(at(noon, MINUTE), 9, `${what}: a minute after noon`);
        assert.equal(at(set, -MINUTE), 7, `${what}: a minute before sunset`);
        assert.equal(at(set, MINUTE), 6, `${what}: a minute after sunset`);
      }
    });
  }

  it('walks the 27 nakshatras in order in one sidereal month', () => {
    const next = random(7);
    for (let window = 0; window < 4; window++) {
      // Start mid-nakshatra, so the Moon's month-to-month wobble (< 1°) cannot add or drop a boundary.
      let start = new Date(Date.UTC(1990, 0, 1) + next() * 80 * 365 * DAY);
      while ((moonSidereal(start) % (360 / 27)) / (360 / 27) < 0.4 || (moonSidereal(start) % (360 / 27)) / (360 / 27) > 0.6)
        start = new Date(start.getTime() + 3600_000);
      const changes: string[] = [];
      let last = nakshatraOf(moonSidereal(start));
      for (let t = start.getTime(); t <= start.getTime() + 27.32 * DAY; t += 2 * 3600_000) {
        const now = nakshatraOf(moonSidereal(new Date(t)));
        if (now !== last) {
          assert.equal(NAKSHATRAS.indexOf(now), (NAKSHATRAS.indexOf(last) + 1) % 27, `${last} → ${now} at ${new Date(t).toISOString()}`);
          changes.push(now);
          last = now;
        }
      }
      assert.equal(changes.length, 27, `window from ${start.toISOString()}: ${changes.join(' ')}`);
    }
  });

  it('puts the Moon in the Sun’s nakshatra at new moon', () => {
    let t: A.AstroTime | null = A.MakeTime(new Date('2024-01-01T00:00Z'));
    for (let i = 0; i < 24; i++) {
      t = A.SearchMoonPhase(0, t!, 40);
      assert.ok(t, 'a new moon within 40 days');
      assert.equal(nakshatraOf(moonSidereal(t)), nakshatraOf(sunSidereal(t)), `new moon ${t.date.toISOString()}`);
      t = t.AddDays(1);
    }
  });

  it('falls back to equal hours in polar day and night, and says so', () => {
    const tromso = { latitude: 69.65, longitude: 18.96 };
    const night = sunHouse(new Date('2025-12-21T11:00Z'), tromso);
    const day = sunHouse(new Date('2025-06-21T23:00Z'), tromso);
    assert.equal(night.fallback, 'polar-night');
    assert.equal(day.fallback, 'polar-day');
    for (const h of [night.house, day.house]) assert.ok(h >= 1 && h <= 12);
    assert.deepEqual([0, 1.99, 2, 6, 11.9, 12, 18, 23.9].map(equalHoursHouse), [9, 9, 8, 6, 4, 3, 12, 10]);
  });

  it('names signs and degrees from the sidereal longitude', () => {
    assert.deepEqual(signOf(0), { sign: 'arie', degree: 0 });
    assert.deepEqual(signOf(125.9), { sign: 'leo_', degree: 5 });
    assert.deepEqual(signOf(359.999), { sign: 'pisc', degree: 29 });
    assert.equal(nakshatraOf(13.34), 'bharani');
    assert.equal(nakshatraOf(359.9), 'revati');
  });
});

describe('graintime stamps', () => {
  it('round-trips 1,000 random instants through format and parse, in names git and qcow2 accept', () => {
    const next = random(42);
    const zones = Object.values(PLACES).concat([
      { latitude: 28.61, longitude: 77.21, timeZone: 'Asia/Kolkata' },
      { latitude: 0, longitude: 0, timeZone: 'UTC' },
    ]);
    const stamps: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const at = new Date(Date.UTC(1950, 0, 1) + Math.floor(next() * 150 * 365 * DAY));
      const place = zones[i % zones.length]!;
      const g = computeGraintime(at, place, 'kae3g');
      assert.match(g.stamp, /^[0-9a-z_-]+$/);
      const back = parseStamp(g.stamp);
      assert.ok(back.ok, `${g.stamp}: ${back.ok ? '' : back.reason}`);
      assert.deepEqual(back.fields, g.fields);
      assert.equal(formatStamp(back.fields), g.stamp);
      const local = localTime(at, place.timeZone);
      assert.equal(g.fields.holoceneYear, local.year + 10000);
      stamps.push(g.stamp);
    }
    for (const stamp of stamps.slice(0, 40)) {
      const r = spawnSync('git', ['check-ref-format', '--branch', stamp], { encoding: 'utf8' });
      assert.equal(r.status, 0, `git refuses ${stamp}: ${r.stderr}`);
    }
    const dir = mkdtempSync(join(tmpdir(), 'gc-stamp-'));
    const img = join(dir, 'x.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', img, '1M']);
    for (const stamp of stamps.slice(0, 5)) execFileSync('qemu-img', ['snapshot', '-c', stamp, img]);
    const listed = execFileSync('qemu-img', ['snapshot', '-l', img], { encoding: 'utf8' });
    for (const stamp of stamps.slice(0, 5)) assert.ok(listed.includes(stamp), `qemu-img lists ${stamp}`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a bad stamp naming the field', () => {
    const good = '12025-11-02--1515--pdt--moon-shatabhisha--asc-pisc00--sun-09h--kae3g';
    assert.ok(parseStamp(good).ok);
    const cases: [string, RegExp][] = [
      ['hello', /not a graintime stamp/],
      [good.replace('-11-', '-13-'), /^month/],
      [good.replace('-02--', '-31--'), /^day: 31 is not a day of 12025-11/],
      [good.replace('--1515', '--2515'), /^hour/],
      [good.replace('--1515', '--1575'), /^minute/],
      [good.replace('shatabhisha', 'shatabhishaa'), /^moon/],
      [good.replace('pisc00', 'fish00'), /^asc/],
      [good.replace('pisc00', 'pisc30'), /^asc: degree 30/],
      [good.replace('sun-09h', 'sun-13h'), /^sun/],
      [good.replace('sun-09h', 'sun-00h'), /^sun/],
      ['09999-01-01--0000--utc--moon-ashwini--asc-arie00--sun-01h--a', /^year/],
      [`${good}--`, /not a graintime stamp/],
      [good.toUpperCase(), /not a graintime stamp/],
    ];
    for (const [stamp, reason] of cases) {
      const r = parseStamp(stamp);
      assert.equal(r.ok, false, stamp);
      if (!r.ok) assert.match(r.reason, reason, stamp);
    }
  });

  it('spells zones and authors within [0-9a-z_-]', () => {
    assert.equal(zoneWord('PDT'), 'pdt');
    assert.equal(zoneWord('GMT+5:30'), 'utcp0530');
    assert.equal(zoneWord('GMT-3'), 'utcm03');
    assert.equal(zoneWord('UTC'), 'utc');
    assert.equal(authorWord('Ada Lovelace'), 'ada_lovelace');
    assert.equal(authorWord('--x--y--'), 'x-y');
    assert.equal(authorWord('+++'), '_');
  });
});

describe('graintime config', () => {
  const dirs: string[] = [];
  const newDir = () => {
    dirs.push(mkdtempSync(join(tmpdir(), 'gc-conf-')));
    return dirs.at(-1)!;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('takes a flag over the environment over the file over the default', () => {
    const dir = newDir();
    const file = join(dir, 'graintime.json');
    writeFileSync(file, JSON.stringify({ latitude: 52.52, longitude: 13.4, timeZone: 'Europe/Berlin', author: 'file' }));
    const env = { GRAINTIME_CONFIG: file, GRAINTIME_TZ: 'Asia/Tokyo', GRAINTIME_AUTHOR: 'env', USER: 'someone' };
    const c = graintimeConfig({ author: 'flag' }, env);
    assert.deepEqual(c.place, { latitude: 52.52, longitude: 13.4, timeZone: 'Asia/Tokyo' });
    assert.equal(c.author, 'flag');
    assert.deepEqual(c.sources, { latitude: 'file', longitude: 'file', timeZone: 'env', author: 'flag' });
    const d = graintimeConfig({}, { GRAINTIME_CONFIG: join(dir, 'none.json'), USER: 'Some One' });
    assert.deepEqual(d.place, DEFAULT_PLACE);
    assert.equal(d.author, 'some_one');
  });

  it('names the flag, variable or file field that is wrong', () => {
    const dir = newDir();
    const file = join(dir, 'graintime.json');
    writeFileSync(file, JSON.stringify({ latitude: 'north' }));
    assert.throws(() => graintimeConfig({ lat: '91' }, {}), /--lat/);
    assert.throws(() => graintimeConfig({ lon: 'east' }, {}), /--lon: expected a number/);
    assert.throws(() => graintimeConfig({}, { GRAINTIME_TZ: 'Mars/Olympus' }), /unknown time zone "Mars\/Olympus"/);
    assert.throws(() => graintimeConfig({}, { GRAINTIME_CONFIG: file }), /graintime\.json: latitude/);
  });
});
