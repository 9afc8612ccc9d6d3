// `chart-vm VM|LAB`: the resource card of one VM, or one card per VM of a lab, grouped
// by layer, from live statistics.  `--json` prints the statistics behind the bars.
import type { TaskContext } from './kit/registry.ts';
import { listLabs, loadLab, loadVm } from './kit/load.ts';
import { collectStats } from './kit/stats.ts';
import { renderCard, renderCards } from './chart/card.ts';
import { chartOptions } from './chart/style.ts';
import { UsageError } from './kit/errors.ts';

export async function run(ctx: TaskContext): Promise<void> {
  const name = ctx.args[0];
  const w = ctx.opts.width === undefined ? undefined : Number(ctx.opts.width);
  if (w !== undefined && (!Number.isInteger(w) || w < 20 || w > 1000)) throw new UsageError(`--width takes a whole number of columns from 20 to 1000, got ${JSON.stringify(ctx.opts.width)}`);
  const o = chartOptions({ ascii: ctx.opts.ascii === true, width: w });
  // A lab's name charts the lab; anything else is a VM's name.
  if (name && !ctx.opts.lab && !ctx.spec && listLabs().includes(name) && !(await isAlsoVm(name))) {
    const stats = await collectStats(await loadLab(name));
    return ctx.out.result(stats, () => renderCards(stats, o));
  }
  if (!name) {
    const stats = await collectStats(await loadLab(undefined, { spec: ctx.spec }));
    return ctx.out.result(stats, () => renderCards(stats, o));
  }
  const { lab, place } = await loadVm(name, { spec: ctx.spec, lab: ctx.opts.lab as string | undefined });
  const [stats] = await collectStats(lab, [place.vm.name]);
  ctx.out.result(stats, () => renderCard(stats!, o));
}

/** nixos-test is both a lab and its only VM: then it charts the VM. */
async function isAlsoVm(name: string): Promise<boolean> {
  try {
    await loadVm(name);
    return true;
  } catch {
    return false;
  }
}
