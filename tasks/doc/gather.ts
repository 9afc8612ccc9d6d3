// tasks/doc/: the lab report (Markdown and self-contained HTML with SVG charts).
//
// Everything a lab report shows, gathered once: the charts' data from the spec, the host
// and the live status; each VM's parameters flow, snapshots and (when running) a few
// seconds of live stats.  Values that change from minute to minute on a stopped lab (free
// disk, ages) are left out, so a stopped lab's report is the same on every render.
import { homedir } from 'node:os';
import type { LabResolved } from '../spec/tree.ts';
import { walkVms } from '../spec/tree.ts';
import { probeHost } from '../qemu/host-probe.ts';
import { PROJECT_ROOT } from '../util/paths.ts';
import type { ArgSection } from '../qemu/plan.ts';
import type { VmStatus } from '../vm/status.ts';
import { collectStats } from '../stats/stats.ts';
import type { VmStats } from '../stats/figures.ts';
import { SessionPool } from '../vm/session-pool.ts';
import { labStatus } from '../lab/status.ts';
import { allocData, topologyData, treeData, type AllocData, type HostTotals, type TopologyData, type TreeData } from '../chart/lab-charts.ts';
import { explainVm } from '../explain/plan.ts';
import { openSite } from '../snapshot/site.ts';
import { LabRuntime } from '../vm/runtime.ts';
import { listSnapshots, type SnapshotInfo } from '../snapshot/ops.ts';
import type { CheckResult } from '../smoke/checks.ts';

export interface VmReport {
  name: string;
  title?: string;
  parent?: string;
  depth: number;
  status: VmStatus;
  flowTitle: string;
  plan: ArgSection[];
  snapshots: SnapshotInfo[] | { unavailable: string };
  /** Samples a second or so apart, oldest first; absent when the VM is not running. */
  stats?: VmStats[];
  checks?: CheckResult[];
}

export interface LabReport {
  lab: string;
  description?: string;
  host: HostTotals;
  tree: TreeData;
  alloc: AllocData;
  topology: TopologyData;
  vms: VmReport[];
}

/**
 * Absolute paths of this checkout and home folder as ./ and ~/, and the hash of the state
 * folder in a running RAM file's name (util/paths.ts runningRamFile) as HASH, so a report
 * reads the same anywhere.
 */
export function portable(text: string): string {
  const home = process.env.HOME ?? homedir();
  return text
    .split(`${PROJECT_ROOT}/`)
    .join('./')
    .split(`${home}/`)
    .join('~/')
    .replace(/(\/grainchart-[\w.-]+)-[0-9a-f]{12}\.ram\b/g, '$1-HASH.ram');
}

export async function gatherReport(lab: LabResolved, opts: { samples?: number; checks?: CheckResult[] } = {}): Promise<LabReport> {
  const [probe, rows] = await Promise.all([probeHost(), labStatus(lab)]);
  const host: HostTotals = {
    title: lab.host.title,
    cpus: probe.cpus,
    memoryMiB: probe.memoryMiB,
    accel: probe.kvm.state === 'usable' ? 'KVM usable' : `KVM ${probe.kvm.state}, TCG`,
  };
  const byName = new Map(rows.map((r) => [r.name, r]));
  const running = rows.filter((r) => r.state === 'running').map((r) => r.name);
  const samples = running.length ? await sampleStats(lab, running, opts.samples ?? 5) : [];
  const parents = new LabRuntime(lab);
  const vms: VmReport[] = [];
  try {
    for (const place of walkVms(lab.vms)) {
      const status = byName.get(place.vm.name)!;
      const parentUp = !place.parent || byName.get(place.parent.name)?.state === 'running';
      const e = await explainVm(lab, place, { probeParents: parentUp, host: probe });
      let snapshots: VmReport['snapshots'];
      if (!parentUp) snapshots = { unavailable: `its disk is inside ${place.parent!.name}, which is ${byName.get(place.parent!.name)?.state ?? 'stopped'}` };
      else
        snapshots = await openSite(lab, place, parents)
          .then((site) => listSnapshots(site))
          .catch((err: Error) => ({ unavailable: portable(err.message) }));
      vms.push({
        name: place.vm.name,
        title: place.vm.title,
        parent: place.parent?.name,
        depth: place.depth,
        status,
        flowTitle: `QEMU runs ${e.where}; KVM ${e.kvm.state}: ${e.kvm.reason}`,
        plan: e.plan.map((s) => ({ ...s, args: s.args.map(portable), note: portable(s.note) })),
        snapshots,
        stats: status.state === 'running' ? samples.map((s) => s.find((v) => v.name === place.vm.name)!).filter(Boolean) : undefined,
        checks: opts.checks?.filter((c) => c.suite === place.vm.name),
      });
    }
  } finally {
    parents.close();
  }
  return {
    lab: lab.name,
    description: lab.description,
    host,
    tree: treeData(lab, host, rows),
    alloc: allocData(lab, host),
    topology: topologyData(lab, rows, { ascii: false }),
    vms,
  };
}

/** A few samples a second apart over kept-open sessions: enough for a sparkline. */
async function sampleStats(lab: LabResolved, names: string[], n: number): Promise<VmStats[][]> {
  const pool = new SessionPool();
  const out: VmStats[][] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = Date.now();
      out.push(await collectStats(lab, names, { pool }));
      if (i < n - 1) await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - t0))));
    }
  } finally {
    pool.closeAll();
  }
  return out;
}
