import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Stage, stageTasks } from '../../tasks/vm/readiness.ts';
import type { BootMetrics } from '../../tasks/machine/record.ts';

// Runs one stage's task as listr2 would, over a clock whose machine counts its new sessions.
async function runStage(stage: Stage, reconnects: () => number, watch: () => Promise<void> = async () => {}) {
  const metrics: BootMetrics = {};
  const started = Date.now();
  const [task] = stageTasks<object>('c1', [stage], {
    started: () => started,
    deadline: () => started + 5000,
    watch,
    metrics,
    reconnects,
    at: ' inside p1',
  });
  const t = { title: '' };
  await (task!.task as (ctx: object, t: { title: string }) => Promise<void>)({}, t);
  return { metrics, title: t.title };
}

const base = { description: 'SSH banner', hint: 'h', maxMs: 2000 };

describe('stageTasks: what a stage retried', () => {
  it('counts a session the machine made anew between tries, not in one (the banner poller dials in the background)', async () => {
    let sessions = 0;
    let tries = 0;
    const { metrics, title } = await runStage(
      {
        ...base,
        check: async () => {
          tries++;
          // The poller, between this try and the next, found the session ended and made one.
          if (tries === 1) setTimeout(() => sessions++, 10);
          return tries >= 3 || undefined;
        },
      },
      () => sessions,
    );
    assert.deepEqual(metrics.retries, [{ stage: 'SSH banner', times: 1, reason: 'the SSH session inside p1 ended; a new one was made' }]);
    assert.match(title, /retried 1× after a dropped SSH connection: the SSH session inside p1 ended/);
  });

  it('keeps each distinct reason when a stage met both the guest’s drop and its parent’s', async () => {
    let sessions = 0;
    let tries = 0;
    const { metrics } = await runStage(
      {
        ...base,
        description: '`uname -a` over SSH',
        check: async () => {
          tries++;
          if (tries === 1) {
            sessions++;
            throw new Error('c1: the SSH connection ended while `uname -a` ran');
          }
          if (tries === 2) throw new Error('c1: the SSH connection ended while `uname -a` ran');
          return 'Linux';
        },
      },
      () => sessions,
    );
    assert.deepEqual(metrics.retries, [
      {
        stage: '`uname -a` over SSH',
        times: 3,
        reason: 'c1: the SSH connection ended while `uname -a` ran · the SSH session inside p1 ended; a new one was made',
      },
    ]);
  });

  it('records nothing for a stage whose tries failed for other reasons', async () => {
    let tries = 0;
    const { metrics, title } = await runStage(
      {
        ...base,
        check: async () => {
          if (++tries < 2) throw new Error('connection refused');
          return true;
        },
      },
      () => 0,
    );
    assert.equal(metrics.retries, undefined);
    assert.doesNotMatch(title, /retried/);
  });
});
