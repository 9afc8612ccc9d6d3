// What changes slowly on the page: the host's totals, the allocation and network topology
// (the report's own SVG, doc/svg.ts) and every VM's snapshots with their graintime decoded.
// Read when the server starts, whenever a VM changes state, and otherwise every half minute:
// listing a nested VM's snapshots asks inside its parent, which a live reading should not wait on.
import type { LabResolved, VmPlace } from '../spec/tree.ts';
import { walkVms } from '../spec/tree.ts';
import type { VmStatus } from '../vm/status.ts';
import { probeHost } from '../qemu/host-probe.ts';
import { allocData, hostTotals, topologyData, type HostTotals } from '../chart/lab-charts.ts';
import { svgAlloc, svgTopology } from '../doc/svg.ts';
import { LabRuntime } from '../vm/runtime.ts';
import { openSite } from '../snapshot/site.ts';
import { listSnapshots } from '../snapshot/ops.ts';
import type { LabFrame } from './frame.ts';

export interface SnapView {
  vm: string;
  name: string;
  /** The graintime the name spells, read for people; else when QEMU recorded it (UTC). */
  taken: string;
  graintime: boolean;
  vmStateBytes: number;
  diskBytes: number;
  ageS: number;
  complete: boolean;
}

export interface LabShape {
  at: string;
  host: HostTotals;
  /** SVG, as the lab report draws them. */
  alloc: string;
  topology: string;
  snapshots: SnapView[];
  /** VMs whose snapshots could not be listed, and why. */
  unlisted: Array<{ vm: string; why: string }>;
}

/** The slow half of the page for `lab`, its VMs' states from `frame` (none read yet: every VM counts as stopped). */
export async function readShape(lab: LabResolved, frame: LabFrame | undefined): Promise<LabShape> {
  const host = hostTotals(lab, await probeHost());
  const state = new Map((frame?.vms ?? []).map((v) => [v.name, v.state]));
  const rows = [...walkVms(lab.vms)].map(
    (p) => ({ lab: lab.name, name: p.vm.name, parent: p.parent?.name, depth: p.depth, state: state.get(p.vm.name) ?? 'stopped', forwards: [] }) as VmStatus,
  );
  const snapshots: SnapView[] = [];
  const unlisted: LabShape['unlisted'] = [];
  const rt = new LabRuntime(lab);
  try {
    const listed = await Promise.all(
      [...walkVms(lab.vms)].map(async (place: VmPlace) => {
        if (place.parent && state.get(place.parent.name) !== 'running')
          return { vm: place.vm.name, why: `its disk is inside ${place.parent.name}, which is ${state.get(place.parent.name) ?? 'stopped'}` };
        return openSite(lab, place, rt)
          .then((site) => listSnapshots(site))
          .catch((err: Error) => ({ vm: place.vm.name, why: err.message.split('\n')[0]! }));
      }),
    );
    for (const l of listed) {
      if (!Array.isArray(l)) unlisted.push(l);
      else
        for (const s of l)
          snapshots.push({
            vm: s.vm,
            name: s.name,
            taken: s.stamp?.date ?? `${s.date.slice(0, 16).replace('T', ' ')} UTC`,
            graintime: !!s.stamp,
            vmStateBytes: s.vmStateSize,
            diskBytes: s.diskSize,
            ageS: s.ageS,
            complete: s.complete,
          });
    }
  } finally {
    rt.close();
  }
  return {
    at: new Date().toISOString(),
    host,
    alloc: svgAlloc(allocData(lab, host)),
    topology: svgTopology(topologyData(lab, rows, { ascii: false })),
    snapshots,
    unlisted,
  };
}
