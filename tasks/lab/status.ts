// A lab's status right now: every VM, parents first, so a nested VM is read inside its
// running parent over one session per parent; a child of a parent that is not running is
// down with it and not asked.
import { walkVms, type LabResolved } from '../spec/tree.ts';
import { vmStatus, type VmStatus } from '../vm/status.ts';
import { LabRuntime } from '../vm/runtime.ts';
import type { SessionPool } from '../vm/session-pool.ts';

/**
 * Parents first, so a nested VM is read inside its running parent, over one session per
 * parent; `using`: sessions kept open beyond this call (the lab agent's pool, or a runtime
 * the caller is still using, as a resume's).
 */
export async function labStatus(lab: LabResolved, using?: SessionPool | LabRuntime): Promise<VmStatus[]> {
  const rows: VmStatus[] = [];
  const byName = new Map<string, VmStatus>();
  const rt = using instanceof LabRuntime ? using : new LabRuntime(lab, using ? { pool: using } : {});
  try {
    for (const place of walkVms(lab.vms)) {
      const parentState = place.parent ? byName.get(place.parent.name)!.state : undefined;
      const machine = parentState === undefined || parentState === 'running' ? await rt.machineOrNone(place) : undefined;
      const row = await vmStatus(machine, lab, place, parentState);
      // libvirt's own word, for the status shown only: vmStatus runs before every exec and boot.
      const domstate = machine?.domainState && (await machine.domainState(machine.ref(lab, place)));
      if (domstate) row.domstate = domstate;
      byName.set(place.vm.name, row);
      rows.push(row);
    }
  } finally {
    if (rt !== using) rt.close();
  }
  return rows;
}
