// The Lahiri (Chitrapaksha) ayanamsa: how far the sidereal zodiac's zero point lies behind
// the tropical one (the equinox of date).  Defined, as the Swiss Ephemeris and the Indian
// Astronomical Ephemeris define it, by its value at 1956-03-21 00:00 TT (JD 2435553.5),
// 23°15'00.658" − 0.004660222° nutation = 23.245522556°, carried to any date by the IAU 2006
// general precession in longitude p_A (Capitaine et al. 2003, eq. 39).  Only this constant
// and polynomial are ours; every position comes from astronomy-engine.

const J2000 = 2451545.0;
const LAHIRI_EPOCH_JD = 2435553.5;
const LAHIRI_AT_EPOCH = 23.245522556;

/** General precession in longitude since J2000, in arcseconds, T in Julian centuries TT. */
function precessionArcsec(t: number): number {
  return 5028.796195 * t + 1.1054348 * t ** 2 + 0.00007964 * t ** 3 - 0.000023857 * t ** 4 - 0.0000000383 * t ** 5;
}

/** Lahiri ayanamsa in degrees at `ttDays` (days of Terrestrial Time since J2000, astronomy-engine's `tt`). */
export function lahiriAyanamsa(ttDays: number): number {
  const t = ttDays / 36525;
  const t0 = (LAHIRI_EPOCH_JD - J2000) / 36525;
  return LAHIRI_AT_EPOCH + (precessionArcsec(t) - precessionArcsec(t0)) / 3600;
}
