// Where and by whom a stamp is made.  Each setting comes from, in order: a flag, an
// environment variable, the config file, the default (San Rafael, CA; author $USER).
//   file: $GRAINTIME_CONFIG, else $XDG_CONFIG_HOME/grainchart/graintime.json (~/.config/…)
//   env:  GRAINTIME_LAT, GRAINTIME_LON, GRAINTIME_TZ, GRAINTIME_AUTHOR
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../util/errors.ts';
import { zodProblems } from '../spec/checks.ts';
import { checkTimeZone } from './local-time.ts';
import { AUTHOR_RE, authorWord } from './stamp.ts';
import type { Place } from './sky.ts';

export const DEFAULT_PLACE = { latitude: 37.9735, longitude: -122.5311, timeZone: 'America/Los_Angeles' } as const;

const Settings = z.strictObject({
  latitude: z.number().min(-90).max(90).optional(),
  longitude: z.number().min(-180).max(180).optional(),
  timeZone: z.string().min(1).optional(),
  author: z.string().regex(AUTHOR_RE, { error: 'must be lowercase letters, digits, _ and single dashes' }).optional(),
});
type Settings = z.output<typeof Settings>;

export interface GraintimeConfig {
  place: Place & { timeZone: string };
  author: string;
  /** Where each setting came from, for `--json` and for people wondering why. */
  sources: Record<'latitude' | 'longitude' | 'timeZone' | 'author', 'flag' | 'env' | 'file' | 'default'>;
  file: string;
}

export function configFile(env: NodeJS.ProcessEnv = process.env): string {
  // An empty variable is an unset one, never the current folder.
  return env.GRAINTIME_CONFIG || join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'grainchart', 'graintime.json');
}

const FLAG_NAMES = { latitude: '--lat', longitude: '--lon', timeZone: '--tz', author: '--author' };
const ENV_NAMES = { latitude: 'GRAINTIME_LAT', longitude: 'GRAINTIME_LON', timeZone: 'GRAINTIME_TZ', author: 'GRAINTIME_AUTHOR' };

/** Validate one layer; the error names the flag, the variable, or the file and field. */
function parseSettings(input: unknown, source: string, names?: Record<string, string>): Settings {
  const r = Settings.safeParse(input);
  if (!r.success) {
    const p = zodProblems(r.error.issues)[0]!;
    const where = names?.[p.path] ?? `${source}: ${p.path || '(root)'}`;
    throw new UsageError(`${where}: ${p.message}`);
  }
  return r.data;
}

function readFileSettings(file: string): Settings {
  if (!existsSync(file)) return {};
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  return parseSettings(data, file);
}

const num = (value: string | undefined, what: string) => {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`${what}: expected a number of degrees, got ${JSON.stringify(value)}`);
  return n;
};

export interface ConfigFlags {
  lat?: string;
  lon?: string;
  tz?: string;
  author?: string;
}

export function graintimeConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env): GraintimeConfig {
  const file = configFile(env);
  const layers: [GraintimeConfig['sources']['author'], Settings][] = [
    [
      'flag',
      parseSettings(
        drop({ latitude: num(flags.lat, '--lat'), longitude: num(flags.lon, '--lon'), timeZone: flags.tz, author: flags.author }),
        'flags',
        FLAG_NAMES,
      ),
    ],
    [
      'env',
      parseSettings(
        drop({
          latitude: num(env.GRAINTIME_LAT, 'GRAINTIME_LAT'),
          longitude: num(env.GRAINTIME_LON, 'GRAINTIME_LON'),
          timeZone: env.GRAINTIME_TZ || undefined,
          author: env.GRAINTIME_AUTHOR || undefined,
        }),
        'environment',
        ENV_NAMES,
      ),
    ],
    ['file', readFileSettings(file)],
  ];
  const pick = <K extends keyof Settings>(key: K, fallback: NonNullable<Settings[K]>) => {
    for (const [source, s] of layers) if (s[key] !== undefined) return { value: s[key]!, source };
    return { value: fallback, source: 'default' as const };
  };
  const latitude = pick('latitude', DEFAULT_PLACE.latitude);
  const longitude = pick('longitude', DEFAULT_PLACE.longitude);
  const timeZone = pick('timeZone', DEFAULT_PLACE.timeZone);
  const author = pick('author', authorWord(env.USER ?? safeUserName()));
  checkTimeZone(timeZone.value);
  return {
    place: { latitude: latitude.value, longitude: longitude.value, timeZone: timeZone.value },
    author: author.value,
    sources: { latitude: latitude.source, longitude: longitude.source, timeZone: timeZone.source, author: author.source },
    file,
  };
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'anon';
  }
}

const drop = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
