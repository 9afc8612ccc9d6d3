// The chart tasks' shared flags (--ascii, --width) to ChartOptions.  Its own module so a
// task that only renders (chart-vm, explain) does not load the lab-chart tasks' imports.
import type { TaskContext } from '../cli/registry.ts';
import { UsageError } from '../util/errors.ts';
import { chartOptions, type ChartOptions } from './style.ts';

export function options(ctx: TaskContext): ChartOptions {
  const w = ctx.opts.width;
  const width = w === undefined ? undefined : Number(w);
  if (width !== undefined && (!Number.isInteger(width) || width < 20 || width > 1000))
    throw new UsageError(`--width takes a whole number of columns from 20 to 1000, got ${JSON.stringify(w)}`);
  return chartOptions({ ascii: ctx.opts.ascii === true, width });
}
