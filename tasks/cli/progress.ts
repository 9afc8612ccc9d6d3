// Progress for long work, with listr2: a live list on a terminal, one plain line per step
// elsewhere (CI, pipes), nothing with --quiet.  Always on stderr, so --json stdout stays clean.
import { Listr, ListrLogger, ProcessOutput, PRESET_TIMER, type ListrTask } from 'listr2';

export interface ProgressOptions {
  quiet?: boolean;
  concurrent?: boolean;
  /** false: a failed task is shown failed and the rest go on (smoke checks). */
  exitOnError?: boolean;
}

export function progressList<Ctx extends object>(tasks: ListrTask<Ctx>[], opts: ProgressOptions = {}): Listr<Ctx> {
  const logger = new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) });
  return new Listr<Ctx>(tasks, {
    concurrent: opts.concurrent ?? false,
    exitOnError: opts.exitOnError ?? true,
    renderer: 'default',
    rendererOptions: { logger, timer: PRESET_TIMER, collapseSubtasks: false },
    fallbackRenderer: 'simple',
    fallbackRendererOptions: { logger, timer: PRESET_TIMER },
    fallbackRendererCondition: () => !process.stderr.isTTY || !!process.env.CI,
    silentRendererCondition: () => !!opts.quiet,
    registerSignalListeners: false,
  });
}
