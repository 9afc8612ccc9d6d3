import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { retry, poll, every, throttled, withTimeout } from '../../tasks/util/retry.ts';
import { FatalError, TimedOut } from '../../tasks/util/errors.ts';
import { TaskError } from '../../tasks/util/errors.ts';

/** A fake clock: sleeping advances it, so tests take no real time. */
const clock = () => {
  let t = 0;
  return { now: () => t, sleep: async (ms: number) => void (t += ms) };
};

describe('retry', () => {
  it('tries until the check gives a value, through thrown errors', async () => {
    let tries = 0;
    const v = await retry(
      async () =>
        ++tries < 3
          ? (() => {
              throw new Error('not yet');
            })()
          : 'done',
      { what: 'x', timeoutMs: 1000, intervalMs: 100, ...clock() },
    );
    assert.equal(v, 'done');
    assert.equal(tries, 3);
  });
  it('times out naming what it waited for, the last reason and the hint', async () => {
    await assert.rejects(
      retry(
        async () => {
          throw new Error('connection reset');
        },
        { what: 'the banner', timeoutMs: 500, intervalMs: 100, hint: 'see the log', ...clock() },
      ),
      (e: unknown) =>
        e instanceof TaskError && /timed out after 0\.5 s waiting for the banner \(last: connection reset\)/.test(e.message) && e.hint === 'see the log',
    );
  });
  it('stops at once on FatalError, from the check or the watch', async () => {
    let tries = 0;
    await assert.rejects(
      retry(
        async () => {
          tries++;
          throw new FatalError('QEMU died');
        },
        { what: 'x', timeoutMs: 1000, ...clock() },
      ),
      /QEMU died/,
    );
    assert.equal(tries, 1);
    await assert.rejects(
      retry(async () => undefined, {
        what: 'x',
        timeoutMs: 1000,
        watch: async () => {
          throw new FatalError('gone');
        },
        ...clock(),
      }),
      /gone/,
    );
  });
  it('takes a watch that could not look (not FatalError) for a failed try, and says so when time runs out', async () => {
    let looks = 0;
    const value = await retry(async () => 'up', {
      what: 'x',
      timeoutMs: 1000,
      watch: async () => {
        if (++looks < 3) throw new Error('Not connected');
      },
      ...clock(),
    });
    assert.equal(value, 'up');
    assert.equal(looks, 3);
    await assert.rejects(
      retry(async () => 'up', {
        what: 'the banner',
        timeoutMs: 300,
        watch: async () => {
          throw new Error('Not connected');
        },
        ...clock(),
      }),
      /timed out after 0\.3 s waiting for the banner \(last: Not connected\)/,
    );
  });
  it('rethrows what `fatal` calls final, as it is, and keeps trying the rest', async () => {
    const refusal = new TaskError('l2 is stopped');
    let tries = 0;
    const err = await retry(
      async () => {
        tries++;
        throw refusal;
      },
      { what: 'x', timeoutMs: 1000, fatal: (e) => e instanceof TaskError, ...clock() },
    ).catch((e) => e);
    assert.equal(err, refusal);
    assert.equal(tries, 1);
    tries = 0;
    const v = await retry(
      async () =>
        ++tries < 2
          ? (() => {
              throw new Error('Connection lost before handshake');
            })()
          : 'ok',
      { what: 'x', timeoutMs: 1000, fatal: (e) => e instanceof TaskError, ...clock() },
    );
    assert.equal(v, 'ok');
  });
});

describe('retry: tries and a timeout', () => {
  it('gives up after `tries` with the last error as it is, pausing as asked between', async () => {
    const c = clock();
    const pauses: number[] = [];
    let tries = 0;
    const err = await retry(
      async () => {
        tries++;
        throw new Error(`refused ${tries}`);
      },
      { what: 'x', timeoutMs: Number.POSITIVE_INFINITY, tries: 3, pauseMs: (n) => 100 * n, now: c.now, sleep: async (ms) => void pauses.push(ms) },
    ).catch((e) => e);
    assert.equal((err as Error).message, 'refused 3');
    assert.deepEqual(pauses, [100, 200]);
  });
  it('throws TimedOut, a TaskError, when time runs out', async () => {
    const err = await retry(async () => false, { what: 'y', timeoutMs: 300, ...clock() }).catch((e) => e);
    assert.ok(err instanceof TimedOut && err instanceof TaskError, String(err));
  });
});

describe('poll', () => {
  it('says whether it happened within the time: true at once, or false once time runs out', async () => {
    let n = 0;
    assert.equal(await poll(async () => ++n >= 3, { what: 'z', timeoutMs: 1000, intervalMs: 100, ...clock() }), true);
    assert.equal(n, 3);
    assert.equal(await poll(async () => false, { what: 'z', timeoutMs: 1000, intervalMs: 100, ...clock() }), false);
  });
  it('throws what `fatal` calls final instead of answering false', async () => {
    await assert.rejects(
      poll(
        async () => {
          throw new Error('No response from server');
        },
        { what: 'z', timeoutMs: 1000, fatal: () => true, ...clock() },
      ),
      /No response from server/,
    );
  });
});

describe('every', () => {
  it('asks on its own clock until an ask finds something, then stops asking', async () => {
    let asks = 0;
    const found = await new Promise<string>((resolve) => every(5, async () => (++asks < 3 ? undefined : 'gone'), resolve));
    assert.equal(found, 'gone');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(asks, 3);
  });
  it('asks no more once stopped, and a failed ask is no answer', { timeout: 10_000 }, async () => {
    let asks = 0;
    const a = every(
      5,
      async () => {
        asks++;
        throw new Error('cannot read');
      },
      () => assert.fail('found nothing'),
    );
    // Failed asks go on: wait for a second one, however slow the machine.
    while (asks < 2) await new Promise((r) => setTimeout(r, 5));
    a.stop();
    const seen = asks;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(asks, seen);
  });
});

describe('throttled', () => {
  it('runs at most once an interval, the first call at once', async () => {
    let t = 0;
    let runs = 0;
    const f = throttled(
      1000,
      async () => void runs++,
      () => t,
    );
    await f();
    t = 500;
    await f();
    t = 1000;
    await f();
    assert.equal(runs, 2);
  });
});

describe('withTimeout', () => {
  it('gives the work’s answer, or TimedOut naming it once the time is up', async () => {
    assert.equal(await withTimeout(Promise.resolve(7), 50, 'x'), 7);
    const err = await withTimeout(new Promise(() => undefined), 20, 'SSH').catch((e) => e);
    assert.ok(err instanceof TimedOut);
    assert.equal(err.message, 'SSH timed out after 0.02 s');
  });
});
