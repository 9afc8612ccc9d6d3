import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { retry, FatalError } from '../../tasks/util/retry.ts';
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
