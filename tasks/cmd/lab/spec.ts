// `spec LAB`: the lab with every default filled in; `labs`: the labs in specs/.
import type { TaskContext } from '../../cli/registry.ts';
import { listLabs, loadLab, localHostFacts } from '../../spec/load.ts';
import { labTree } from '../../chart/describe.ts';
import { renderTree } from '../../chart/tree.ts';
import { formatBytes, MiB } from '../../spec/size.ts';
import { specWarnings } from '../../spec/checks.ts';
import { walkVms } from '../../spec/tree.ts';

export async function run(ctx: TaskContext): Promise<void> {
  const host = localHostFacts();
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec }, host);
  // A spec is portable, so not fitting this host is a warning here; `boot` refuses it.
  for (const { vm, path } of walkVms(lab.vms)) {
    if (vm.memory > host.memoryMiB)
      ctx.out.warn(`${path}.memory: ${formatBytes(vm.memory * MiB)} is more than this host has (${formatBytes(host.memoryMiB * MiB)})`);
    if (vm.cpus > host.cpus) ctx.out.warn(`${path}.cpus: ${vm.cpus} is more than this host's ${host.cpus} CPUs (runs, but overcommitted)`);
  }
  for (const w of specWarnings(lab)) ctx.out.warn(`${w.path}: ${w.message}`);
  ctx.out.result(lab, () => [`lab ${lab.name}${lab.description ? ` — ${lab.description}` : ''}`, renderTree([labTree(lab)])].join('\n'));
}

export function runLabs(ctx: TaskContext): void {
  const labs = listLabs();
  ctx.out.result(labs, () => labs.join('\n'));
}
