// `tree LAB`, `alloc LAB`, `topology LAB`: the lab charted from its spec, the host's
// totals and the live status.  `--json` prints the data behind the chart.
import { existsSync } from 'node:fs';
import type { TaskContext } from '../../cli/registry.ts';
import { loadLab } from '../../spec/load.ts';
import { probeHost, type HostProbe } from '../../qemu/host-probe.ts';
import { stateRoot, kitPaths } from '../../util/paths.ts';
import { imageRootDisk } from '../../qemu/args.ts';
import { walkVms, type LabResolved } from '../../spec/tree.ts';
import { imgInfo } from '../../qemu/disk-image.ts';
import { labStatus } from '../../lab/status.ts';
import { options } from '../../chart/cli-options.ts';
import { allocData, hostTotals, renderAlloc, renderLabTree, renderTopology, topologyData, treeData } from '../../chart/lab-charts.ts';
import { dirname, resolve } from 'node:path';
import { AGENT_WAIT_MS, askStatus } from '../../agent/client.ts';
import type { VmStatus } from '../../vm/status.ts';

/** The lab's live rows: from its agent over its open sessions when it answers, else read here (as `status` does). */
async function liveStatus(ctx: TaskContext, lab: LabResolved): Promise<VmStatus[]> {
  const rows = ctx.spec === '-' ? undefined : await askStatus(lab.name, ctx.spec ? resolve(ctx.spec) : undefined, AGENT_WAIT_MS);
  return rows ?? labStatus(lab);
}

async function probeForState(): Promise<HostProbe> {
  let dir = stateRoot();
  while (!existsSync(dir)) dir = dirname(dir);
  return probeHost({ diskPath: dir });
}

export async function tree(ctx: TaskContext): Promise<void> {
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  const o = options(ctx);
  const [probe, rows] = await Promise.all([probeForState(), liveStatus(ctx, lab)]);
  const data = treeData(lab, hostTotals(lab, probe), rows);
  ctx.out.result(data, () => renderLabTree(data, o));
}

export async function alloc(ctx: TaskContext): Promise<void> {
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  const o = options(ctx);
  const probe = await probeForState();
  // Image-booted VMs have a root overlay once booted; its virtual size is what it may grow to.
  const sizes: Record<string, number> = {};
  await Promise.all(
    [...walkVms(lab.vms)]
      .filter((p) => p.depth === 1 && typeof p.vm.boot === 'object' && 'image' in p.vm.boot)
      .map(async (p) => {
        const overlay = imageRootDisk(kitPaths(lab.name, p.vm.name));
        if (existsSync(overlay)) sizes[p.vm.name] = (await imgInfo(overlay))['virtual-size'];
      }),
  );
  const data = allocData(lab, hostTotals(lab, probe), sizes);
  for (const w of data.warnings) if (ctx.json) ctx.out.warn(w);
  ctx.out.result(data, () => renderAlloc(data, o));
}

export async function topology(ctx: TaskContext): Promise<void> {
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  const o = options(ctx);
  const data = topologyData(lab, await liveStatus(ctx, lab), o);
  ctx.out.result(data, () => renderTopology(data, o));
}
