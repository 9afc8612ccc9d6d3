// A sampler's memory between samples (watch, the lab agent): CPU windows that start at the
// last reading, as top's do.
/**
 * The last readings per VM, kept by a caller that samples again and again (watch, the stats
 * agent): the next CPU window then starts at that reading, as top's does, and only what is
 * missing of the window is slept (often nothing).  A reading older than `maxAgeMs` is not
 * used: that sample takes a fresh window of its own.
 */
export class SampleMemo {
  private readings = new Map<string, { at: number; value: unknown }>();
  constructor(readonly maxAgeMs = 10_000) {}

  /** The remembered reading and how much of a `windowMs` window is still to wait. */
  prior<T>(key: string, windowMs: number): { value: T; waitMs: number } | undefined {
    const r = this.readings.get(key);
    const age = r ? Date.now() - r.at : Infinity;
    return r && age <= this.maxAgeMs ? { value: r.value as T, waitMs: Math.max(0, windowMs - age) } : undefined;
  }

  keep(key: string, value: unknown): void {
    this.readings.set(key, { at: Date.now(), value });
  }
}
