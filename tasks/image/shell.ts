// zx, loaded on first use: only image builds run shell work, and most runs of `up` or
// `boot` find their image in the cache — they need not pay zx's ~100 ms and its memory.
import type { Options, Shell } from 'zx';

/** zx's `$` with output kept quiet and a non-zero exit returned, not thrown. */
export async function shell(opts: Partial<Options> = {}): Promise<Shell> {
  const { $ } = await import('zx');
  return $({ quiet: true, nothrow: true, ...opts });
}
