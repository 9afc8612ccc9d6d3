// The names a stamp spells: nakshatras, signs.  Pure data, shared by sky.ts and stamp.ts.

/** The 27 nakshatras from 0° sidereal, each 13°20′; purva_/uttara_ shortened to p_/u_ as the original did. */
export const NAKSHATRAS = [
  'ashwini',
  'bharani',
  'krittika',
  'rohini',
  'mrigashira',
  'ardra',
  'punarvasu',
  'pushya',
  'ashlesha',
  'magha',
  'p_phalguni',
  'u_phalguni',
  'hasta',
  'chitra',
  'swati',
  'vishakha',
  'anuradha',
  'jyeshtha',
  'mula',
  'p_ashadha',
  'u_ashadha',
  'shravana',
  'dhanishta',
  'shatabhisha',
  'p_bhadrapada',
  'u_bhadrapada',
  'revati',
] as const;
export type Nakshatra = (typeof NAKSHATRAS)[number];

/** The 12 signs in four letters each (leo_ padded so every sign is four). */
export const SIGNS = ['arie', 'taur', 'gemi', 'canc', 'leo_', 'virg', 'libr', 'scor', 'sagi', 'capr', 'aqua', 'pisc'] as const;
export type Sign = (typeof SIGNS)[number];

export const NAKSHATRA_SPAN = 360 / 27;

export const norm360 = (deg: number) => ((deg % 360) + 360) % 360;

export function nakshatraOf(siderealLon: number): Nakshatra {
  return NAKSHATRAS[Math.floor(norm360(siderealLon) / NAKSHATRA_SPAN) % 27]!;
}

export function signOf(siderealLon: number): { sign: Sign; degree: number } {
  const lon = norm360(siderealLon);
  const index = Math.floor(lon / 30) % 12;
  return { sign: SIGNS[index]!, degree: Math.floor(lon - index * 30) };
}
