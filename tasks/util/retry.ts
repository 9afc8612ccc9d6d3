// The one waiting primitive: every wait in the kit goes through `retry`.  A check returns
// a value when done (undefined/false: not yet) or throws FatalError to stop at once; on
// timeout the error (TimedOut) names what was awaited, for how long, the last reason, and a
// hint.  That is the one meaning of a timeout.  Built on it, for waits of other shapes:
//   poll     "did it happen within this time?" — where running out is an answer, not a
//            failure (the stop ladder climbs a rung): true or false, said at the call site;
//   every    ask on a clock of its own while other work runs (is a parent lost?);
//   throttled  run a check at most once per interval inside a faster loop (a boot's watch);
//   withTimeout  one piece of work given a time limit, rejecting with TimedOut past it.
import { FatalError, TimedOut } from './errors.ts';

export interface RetryOptions {
  what: string;
  timeoutMs: number;
  intervalMs?: number;
  hint?: string;
  /** Runs before each try; throws FatalError when the thing waited on is gone (e.g. QEMU died); another error counts as a failed try. */
  watch?: () => Promise<void>;
  /** Errors from the check that waiting cannot mend: rethrown at once, as they are. */
  fatal?: (err: unknown) => boolean;
  /** At most this many tries, whatever the time: the last try's error is thrown as it is. */
  tries?: number;
  /** The pause after the n-th failed try (default intervalMs): a backoff. */
  pauseMs?: (n: number) => number;
  /** Injectable clock and sleep for tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function retry<T>(check: () => Promise<T | undefined | false>, opts: RetryOptions): Promise<T> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? realSleep;
  const start = now();
  let last = 'no answer yet';
  for (let n = 1; ; n++) {
    try {
      // A watch that could not look (its connection dropped) is no answer yet, as a check's error is.
      if (opts.watch) await opts.watch();
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      if (err instanceof FatalError || opts.fatal?.(err) || (opts.tries !== undefined && n >= opts.tries)) throw err;
      last = err instanceof Error ? err.message : String(err);
    }
    const elapsed = now() - start;
    if (elapsed >= opts.timeoutMs)
      throw new TimedOut(`timed out after ${(elapsed / 1000).toFixed(1)} s waiting for ${opts.what} (last: ${last})`, { hint: opts.hint });
    await sleep(Math.min(opts.pauseMs?.(n) ?? opts.intervalMs ?? 100, Math.max(0, opts.timeoutMs - elapsed)));
  }
}

/**
 * Whether `happened` comes true within `timeoutMs` (it is asked at least once): false when
 * time runs out, for a wait whose running out is an answer.  Its errors are retried as
 * retry's are, FatalError and `fatal` ones thrown.
 */
export async function poll(happened: () => Promise<boolean>, opts: Omit<RetryOptions, 'hint' | 'tries'>): Promise<boolean> {
  return retry(async () => (await happened()) || undefined, opts).then(
    () => true,
    (err) => {
      if (err instanceof TimedOut) return false;
      throw err;
    },
  );
}

/**
 * Asks `ask` every `ms` on a clock of its own (the next ask once this one has answered) until
 * `stop()`: `ask` returning a value ends the asking and hands that value to `found`.  A failed
 * ask is no answer; the next one comes all the same.
 */
export function every<T>(ms: number, ask: () => Promise<T | undefined>, found: (value: T) => void): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const next = () => {
    timer = setTimeout(async () => {
      const value = await ask().catch(() => undefined);
      if (stopped) return;
      if (value !== undefined) found(value);
      else next();
    }, ms);
  };
  next();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** `f`, run at most once every `ms` (the first call runs it); calls in between do nothing. */
export function throttled(ms: number, f: () => Promise<void>, now: () => number = Date.now): () => Promise<void> {
  let last = Number.NEGATIVE_INFINITY;
  return async () => {
    if (now() - last < ms) return;
    last = now();
    await f();
  };
}

/** `work`, or TimedOut ("WHAT timed out after N s") once `ms` pass first; the work itself is not cancelled. */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TimedOut(`${what} timed out after ${ms / 1000} s`)), ms))),
  ]).finally(() => clearTimeout(timer));
}
