// The one waiting primitive: every wait in the kit goes through `retry`.  A check returns
// a value when done (undefined/false: not yet) or throws FatalError to stop at once; on
// timeout the error names what was awaited, for how long, the last reason, and a hint.
import { TaskError } from './errors.ts';

/** Thrown by a check (or a watch) when waiting longer cannot help. */
export class FatalError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'FatalError';
  }
}

export interface RetryOptions {
  what: string;
  timeoutMs: number;
  intervalMs?: number;
  hint?: string;
  /** Runs before each try; throws FatalError when the thing waited on is gone (e.g. QEMU died). */
  watch?: () => Promise<void>;
  /** Errors from the check that waiting cannot mend: rethrown at once, as they are. */
  fatal?: (err: unknown) => boolean;
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
  for (;;) {
    if (opts.watch) await opts.watch();
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      if (err instanceof FatalError || opts.fatal?.(err)) throw err;
      last = err instanceof Error ? err.message : String(err);
    }
    const elapsed = now() - start;
    if (elapsed >= opts.timeoutMs)
      throw new TaskError(`timed out after ${(elapsed / 1000).toFixed(1)} s waiting for ${opts.what} (last: ${last})`, { hint: opts.hint });
    await sleep(Math.min(opts.intervalMs ?? 100, Math.max(0, opts.timeoutMs - elapsed)));
  }
}
