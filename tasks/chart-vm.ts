// `chart-vm VM|LAB`: the resource card of one VM, or one card per VM of a lab, grouped
// by layer, from live statistics.  `--json` prints the statistics behind the bars.
import type { TaskContext } from './kit/registry.ts';
import { listLabs, loadLab, loadVm } from './kit/load.ts';
import { collectStats } from './kit/stats.ts';
import { renderCard, renderCards } from './chart/card.ts';
import { options } from './charts.ts';

export async function run(ctx: TaskContext): Promise<void> {
  const name = ctx.args[0];
  const o = options(ctx);
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
