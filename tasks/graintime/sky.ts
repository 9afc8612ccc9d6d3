// Where the Moon, the Sun and the rising ecliptic are, from astronomy-engine's ephemeris.
// Sidereal longitudes are the true-of-date tropical ones minus the Lahiri ayanamsa.
import * as A from 'astronomy-engine';
import { lahiriAyanamsa } from './ayanamsa.ts';
import { norm360 } from './names.ts';

export interface Place {
  latitude: number;
  longitude: number;
  /** Metres above sea level; sunrise moves by seconds per 100 m, so it is optional. */
  elevation?: number;
}

const observer = (p: Place) => new A.Observer(p.latitude, p.longitude, p.elevation ?? 0);
const toTime = (at: Date | A.AstroTime) => (at instanceof A.AstroTime ? at : A.MakeTime(at));

export function ayanamsaAt(at: Date | A.AstroTime): number {
  return lahiriAyanamsa(toTime(at).tt);
}

/** The Moon's geocentric sidereal ecliptic longitude, degrees. */
export function moonSidereal(at: Date | A.AstroTime): number {
  const t = toTime(at);
  return norm360(A.EclipticGeoMoon(t).lon - lahiriAyanamsa(t.tt));
}

/** The Sun's apparent geocentric sidereal ecliptic longitude, degrees. */
export function sunSidereal(at: Date | A.AstroTime): number {
  const t = toTime(at);
  return norm360(A.SunPosition(t).elon - lahiriAyanamsa(t.tt));
}

/**
 * The ascendant: the point of the ecliptic on the eastern horizon.  The ecliptic and the
 * horizon are two great circles; they cross where a vector is perpendicular to both
 * poles (the zenith and the ecliptic pole), so the crossing is their cross product, taken
 * in the horizontal frame (x north, y west, z zenith) with astronomy-engine's rotation of
 * the true ecliptic of date.  Of the two crossings the eastern one (y < 0) rises.
 */
export function ascendantSidereal(at: Date | A.AstroTime, place: Place): number {
  const t = toTime(at);
  const ectToHor = A.CombineRotation(A.Rotation_ECT_EQD(t), A.Rotation_EQD_HOR(t, observer(place)));
  const pole = A.RotateVector(ectToHor, new A.Vector(0, 0, 1, t));
  // zenith × pole = (−pole.y, pole.x, 0): horizontal, and on the ecliptic.
  let x = -pole.y;
  let y = pole.x;
  if (y > 0) [x, y] = [-x, -y];
  const horToEct = A.InverseRotation(ectToHor);
  const onEcliptic = A.RotateVector(horToEct, new A.Vector(x, y, 0, t));
  return norm360(A.SphereFromVector(onEcliptic).lon - lahiriAyanamsa(t.tt));
}

export type DayEvent = 'sunrise' | 'noon' | 'sunset' | 'midnight';

export interface SunHouse {
  house: number;
  /** The events the instant lies between, e.g. sunrise → noon; absent under the polar fallback. */
  from?: { event: DayEvent; at: Date };
  to?: { event: DayEvent; at: Date };
  /** Set when the Sun neither rises nor sets that day; see sunHouse. */
  fallback?: 'polar-day' | 'polar-night';
}

/** Houses by the segment an instant lies in: each arc split into thirds of time. */
const HOUSES_AFTER: Record<DayEvent, [number, number, number]> = {
  sunrise: [12, 11, 10],
  noon: [9, 8, 7],
  sunset: [6, 5, 4],
  midnight: [3, 2, 1],
};
const NEXT: Record<DayEvent, DayEvent> = { sunrise: 'noon', noon: 'sunset', sunset: 'midnight', midnight: 'sunrise' };

/**
 * Sunrise and sunset as the Placidus houses see them: the Sun's centre on the true
 * (geometric, unrefracted) horizon, the moment it crosses the ascendant or the descendant.
 * Civil sunrise (upper limb, refraction) is 2–4 minutes earlier.
 */
function horizonCrossing(place: Place, direction: 1 | -1, from: A.AstroTime, days: number): A.AstroTime | null {
  return A.SearchAltitude(A.Body.Sun, observer(place), direction, from, days, 0);
}

/** The first sunrise, noon, sunset or midnight after `from` (within `days` for rise/set), as sunHouse uses them. */
export function nextDayEvent(place: Place, event: DayEvent, from: Date, days = 1.1): Date | null {
  const t = A.MakeTime(from);
  if (event === 'sunrise' || event === 'sunset') return horizonCrossing(place, event === 'sunrise' ? 1 : -1, t, days)?.date ?? null;
  return meridian(place, event === 'noon' ? 0 : 12, t, 1).date;
}

function meridian(place: Place, hourAngle: 0 | 12, from: A.AstroTime, direction: 1 | -1): A.AstroTime {
  return A.SearchHourAngle(A.Body.Sun, observer(place), hourAngle, from, direction).time;
}

/**
 * The Sun's house at an instant: find the last of sunrise/noon/sunset/midnight before it
 * and the first after it, and which third of that span it is in.  Where the Sun does not
 * cross the horizon within a day either side (polar day or night), fall back to equal
 * hours: as if it rose 6 h before solar noon and set 6 h after, i.e. by the hour angle.
 */
export function sunHouse(at: Date | A.AstroTime, place: Place): SunHouse {
  const t = toTime(at);
  const ahead: { event: DayEvent; at: A.AstroTime | null }[] = [
    { event: 'sunrise', at: horizonCrossing(place, 1, t, 1.1) },
    { event: 'sunset', at: horizonCrossing(place, -1, t, 1.1) },
    { event: 'noon', at: meridian(place, 0, t, 1) },
    { event: 'midnight', at: meridian(place, 12, t, 1) },
  ];
  const behind: { event: DayEvent; at: A.AstroTime | null }[] = [
    { event: 'sunrise', at: horizonCrossing(place, 1, t, -1.1) },
    { event: 'sunset', at: horizonCrossing(place, -1, t, -1.1) },
    { event: 'noon', at: meridian(place, 0, t, -1) },
    { event: 'midnight', at: meridian(place, 12, t, -1) },
  ];
  const next = earliest(ahead, (a, b) => a.ut < b.ut);
  const prev = earliest(behind, (a, b) => a.ut > b.ut);
  const riseOrSetNear = [...ahead, ...behind].some((e) => (e.event === 'sunrise' || e.event === 'sunset') && e.at);
  if (riseOrSetNear && next && prev && NEXT[prev.event] === next.event) {
    const fraction = (t.ut - prev.at.ut) / (next.at.ut - prev.at.ut);
    const third = Math.min(2, Math.max(0, Math.floor(fraction * 3)));
    return {
      house: HOUSES_AFTER[prev.event][third]!,
      from: { event: prev.event, at: prev.at.date },
      to: { event: next.event, at: next.at.date },
    };
  }
  // Polar day or night (or a day whose rise/set skip a meridian passage at the circle's edge).
  const hours = A.HourAngle(A.Body.Sun, t, observer(place)); // 0..24 since the last noon
  const house = equalHoursHouse(hours);
  const sunUp = A.Horizon(t, observer(place), ...raDec(t, place)).altitude > 0;
  return { house, fallback: sunUp ? 'polar-day' : 'polar-night' };
}

function raDec(t: A.AstroTime, place: Place): [number, number] {
  const eq = A.Equator(A.Body.Sun, t, observer(place), true, true);
  return [eq.ra, eq.dec];
}

/** Houses by hour angle with a 6-hour arc each way: noon→+6h 9,8,7; +6h→midnight 6,5,4; … */
export function equalHoursHouse(hoursSinceNoon: number): number {
  const h = ((hoursSinceNoon % 24) + 24) % 24;
  const segment = Math.floor(h / 2) % 12; // 0..11, two hours each
  // segments after noon: 9 8 7 | 6 5 4 | 3 2 1 | 12 11 10
  return [9, 8, 7, 6, 5, 4, 3, 2, 1, 12, 11, 10][segment]!;
}

function earliest<T extends { event: DayEvent; at: A.AstroTime | null }>(
  events: T[],
  before: (a: A.AstroTime, b: A.AstroTime) => boolean,
): { event: DayEvent; at: A.AstroTime } | undefined {
  let best: { event: DayEvent; at: A.AstroTime } | undefined;
  for (const e of events) if (e.at && (!best || before(e.at, best.at))) best = { event: e.event, at: e.at };
  return best;
}
