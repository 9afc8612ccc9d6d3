// Sizes as people write them in specs ("8G", "512M", 8192) and as QEMU tools read them.
// Units are binary (K = KiB, G = GiB), as qemu-img and `-m` treat them.
// A bare number keeps the unit of the tool it feeds: MiB for memory (`-m 8192`),
// bytes for disk sizes (`qemu-img create … 1073741824`).

const UNITS: Record<string, number> = { B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt])?(?:i?b)?\s*$/i;

export type SizeResult = { ok: true; bytes: number } | { ok: false; reason: string };

/** Parses a size; `bareUnit` is the unit of a plain number ("B" or "M"). */
export function parseSize(input: unknown, bareUnit: 'B' | 'M'): SizeResult {
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return { ok: false, reason: `expected a finite number, got ${input}` };
    if (input <= 0) return { ok: false, reason: `must be positive, got ${input}` };
    if (!Number.isInteger(input)) return { ok: false, reason: `a number without a unit must be whole, got ${input}` };
    return whole(input * UNITS[bareUnit]!, String(input));
  }
  if (typeof input !== 'string') return { ok: false, reason: `expected a size like "8G" or a number, got ${typeof input}` };
  const m = SIZE_RE.exec(input);
  if (!m) return { ok: false, reason: `expected a size like "8G", "512M" or a number, got ${JSON.stringify(input)}` };
  const value = Number(m[1]);
  const unit = (m[2] ?? bareUnit).toUpperCase();
  if (value <= 0) return { ok: false, reason: `must be positive, got ${JSON.stringify(input)}` };
  if (!m[2] && !Number.isInteger(value)) return { ok: false, reason: `a number without a unit must be whole, got ${JSON.stringify(input)}` };
  return whole(value * UNITS[unit]!, JSON.stringify(input));
}

/** Fractions of a byte ("7.9G") round up: a VM never gets less than it asked for. */
function whole(bytes: number, shown: string): SizeResult {
  const rounded = Math.ceil(bytes - 1e-6);
  if (!Number.isSafeInteger(rounded)) return { ok: false, reason: `too large: ${shown}` };
  return { ok: true, bytes: rounded };
}

/** "8 GiB", "512 MiB", "1.5 GiB": for people, in messages and charts. */
export function formatBytes(bytes: number): string {
  const order = ['TiB', 'GiB', 'MiB', 'KiB'] as const;
  const factor = { TiB: UNITS.T!, GiB: UNITS.G!, MiB: UNITS.M!, KiB: UNITS.K! };
  for (const unit of order) {
    const f = factor[unit];
    if (bytes >= f) {
      const v = bytes / f;
      return `${Number.isInteger(v) ? v : v.toFixed(1)} ${unit}`;
    }
  }
  return `${bytes} B`;
}

export const MiB = UNITS.M!;
export const GiB = UNITS.G!;
