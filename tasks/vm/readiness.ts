// Readiness as data, shared by host boots and nested boots: ordered stages, each with a
// description, a hint and a time limit, run as listr2 tasks through `retry`, with a watch
// between tries and the seconds since launch recorded per stage.
import type { ListrTask } from 'listr2';
import { retry } from '../util/retry.ts';
import type { BootMetrics } from '../machine/record.ts';

export interface Stage {
  description: string;
  hint: string;
  /** The most this stage may take; the boot's deadline may cut it shorter. */
  maxMs: number;
  check: () => Promise<unknown>;
  record?: keyof BootMetrics;
  /** Asked again just before the stage would run (a stage that depends on what preparing found). */
  enabled?: () => boolean;
}

export interface StageClock {
  started: () => number; // when QEMU was launched (ms)
  deadline: () => number; // when the whole boot must be done (ms)
  watch: () => Promise<void>;
  metrics: BootMetrics;
}

export function stageTasks<Ctx>(vmName: string, stages: Stage[], clock: StageClock): ListrTask<Ctx>[] {
  return stages.map((stage) => ({
    title: `${vmName}: ${stage.description}`,
    enabled: stage.enabled,
    task: async (_: Ctx, t: { title: string }) => {
      await retry(stage.check, {
        what: `${vmName}: ${stage.description}`,
        timeoutMs: Math.max(0, Math.min(stage.maxMs, clock.deadline() - Date.now())),
        intervalMs: 100,
        hint: stage.hint,
        watch: clock.watch,
      });
      const s = (Date.now() - clock.started()) / 1000;
      if (stage.record) clock.metrics[stage.record] = Math.round(s * 100) / 100;
      t.title = `${vmName}: ${stage.description} (${s.toFixed(1)} s)`;
    },
  }));
}
