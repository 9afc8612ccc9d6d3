// Readiness as data, shared by host boots and nested boots: ordered stages, each with a
// description, a hint and a time limit, run as listr2 tasks through `retry`, with a watch
// between tries and the seconds since launch recorded per stage.  A try that met a dropped
// SSH connection (the guest's sshd, or the parent it is reached through, ended it) is tried
// again within the stage's time like any other, and the stage says it retried, and why.
import type { ListrTask } from 'listr2';
import { retry } from '../util/retry.ts';
import type { BootMetrics, StageRetry } from '../machine/record.ts';
import { droppedConnection } from '../ssh/dropped.ts';
import { TimedOut } from '../util/errors.ts';

export interface Stage {
  description: string;
  hint: string;
  /** The most this stage may take; the boot's deadline may cut it shorter. */
  maxMs: number;
  check: () => Promise<unknown>;
  record?: Exclude<keyof BootMetrics, 'retries' | 'bootedAgain'>;
  /** Asked again just before the stage would run (a stage that depends on what preparing found). */
  enabled?: () => boolean;
}

export interface StageClock {
  started: () => number; // when QEMU was launched (ms)
  deadline: () => number; // when the whole boot must be done (ms)
  watch: () => Promise<void>;
  metrics: BootMetrics;
  /** The machine's count of new sessions made after one ended, and where it is (" inside l1"). */
  reconnects?: () => number;
  at?: string;
}

export function stageTasks<Ctx>(vmName: string, stages: Stage[], clock: StageClock): ListrTask<Ctx>[] {
  return stages.map((stage) => ({
    title: `${vmName}: ${stage.description}`,
    enabled: stage.enabled,
    task: async (_: Ctx, t: { title: string }) => {
      const retried: StageRetry = { stage: stage.description, times: 0, reason: '' };
      // Every distinct reason, in the order met: a stage may meet the guest's drop and its parent's.
      const because = (reason: string) => {
        if (!retried.reason.split(' · ').includes(reason)) retried.reason = retried.reason ? `${retried.reason} · ${reason}` : reason;
      };
      // New sessions the machine made while this stage ran, whoever noticed the old one had
      // ended: a try, the watch, or the banner poller dialling in the background between tries.
      const reconnectsBefore = clock.reconnects?.() ?? 0;
      const noteReconnects = () => {
        const made = (clock.reconnects?.() ?? 0) - reconnectsBefore;
        if (made <= 0) return;
        retried.times += made;
        because(`the SSH session${clock.at ?? ''} ended; a new one was made`);
      };
      const noting =
        <T>(f: () => Promise<T>) =>
        async () => {
          try {
            return await f();
          } catch (err) {
            const dropped = droppedConnection(err);
            if (dropped) {
              retried.times++;
              because(dropped);
            }
            throw err;
          }
        };
      await retry(noting(stage.check), {
        what: `${vmName}: ${stage.description}`,
        timeoutMs: Math.max(0, Math.min(stage.maxMs, clock.deadline() - Date.now())),
        intervalMs: 100,
        hint: stage.hint,
        watch: noting(clock.watch),
      }).catch((err: unknown) => {
        // A timeout names its stage already; any other failure is told with the stage it ended.
        if (err instanceof Error && !(err instanceof TimedOut)) Object.assign(err, { stage: stage.description });
        throw err;
      });
      noteReconnects();
      const s = (Date.now() - clock.started()) / 1000;
      if (stage.record) clock.metrics[stage.record] = Math.round(s * 100) / 100;
      if (retried.times) clock.metrics.retries = [...(clock.metrics.retries ?? []), retried];
      t.title = `${vmName}: ${stage.description} (${s.toFixed(1)} s${retried.times ? `; retried ${retried.times}× after a dropped SSH connection: ${retried.reason}` : ''})`;
    },
  }));
}
