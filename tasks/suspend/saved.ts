// A lab's saved state as its top-level VMs' records keep it: which VMs are suspended, what an
// action would lose of it, and releasing it (discarded, or kept as a snapshot).
import { withRuntime } from '../vm/runtime.ts';
import { topMachine } from '../machine/machine-for.ts';
import { forgetRam } from '../machine/ram-file.ts';
import { kitPaths } from '../util/paths.ts';
import { topPlaces, walkBelow, walkVms, type LabResolved, type VmPlace } from '../spec/tree.ts';
import { readState, updateState, type SavedState, type VmState } from '../machine/record.ts';
import { openSite } from '../snapshot/site.ts';
import { removeSnapshot } from '../snapshot/ops.ts';

/** A VM's record on this host. */
export const recordOf = (lab: LabResolved, place: VmPlace) => kitPaths(lab.name, place.vm.name).vm;

/** The top-level VMs that are suspended, each with its saved state. */
export function suspendedPlaces(lab: LabResolved): Array<{ place: VmPlace; saved: SavedState; record: VmState }> {
  return topPlaces(lab).flatMap((place) => {
    const record = readState(recordOf(lab, place));
    return record?.phase === 'suspended' && record.saved ? [{ place, saved: record.saved, record }] : [];
  });
}

/** The top-level VM a VM runs under (itself when it is one): the one that holds its saved state. */
export function topOf(lab: LabResolved, name: string): string | undefined {
  return lab.vms.find((top) => [...walkVms([top])].some((p) => p.vm.name === name))?.name;
}

/** What `what` would lose of the lab's saved state (only the VMs in `only`, when given), or undefined when nothing. */
export function savedLoss(lab: LabResolved, what: string, only?: Set<string>): { loss: string; hint: string } | undefined {
  const suspended = suspendedPlaces(lab).filter((s) => !only || only.has(s.place.vm.name));
  if (!suspended.length) return undefined;
  const names = [...new Set(suspended.map((s) => s.saved.snapshot))].join(', ');
  return {
    loss: `lab ${lab.name} is suspended (saved as ${names}); ${what} discards that state`,
    hint: `resume it instead (npx tsx tasks.ts resume ${lab.name}), or pass --yes`,
  };
}

/** A top-level VM's saved state, no longer its suspend: `discarded`, or kept as a snapshot. */
export interface Released {
  vm: string;
  snapshot: string;
  discarded: boolean;
}

/**
 * Takes the suspended marks off the lab (its VMs and their children are stopped, their disks
 * as they were saved); `remove` also deletes the saved snapshots (after a --yes), else they
 * stay, listed by `snapshots` and loadable with `restore` or `up --from`.  A managed save
 * always goes: the machine would load it at the next start instead of booting cold.
 */
export async function releaseSaved(lab: LabResolved, remove: boolean): Promise<Released[]> {
  const gone: Released[] = [];
  for (const { place, saved } of suspendedPlaces(lab)) {
    if (saved.managed) {
      const machine = await topMachine(lab, place);
      await machine.managedSave?.drop(machine.ref(lab, place));
    } else if (saved.devices) {
      // Saved devices and a RAM file cannot be kept as a snapshot: the next boot maps a new RAM.
      const machine = await topMachine(lab, place);
      await forgetRam(machine, machine.ref(lab, place));
    } else if (remove) await withRuntime(lab, async (parents) => removeSnapshot(await openSite(lab, place, parents), saved.snapshot)).catch(() => undefined);
    updateState(recordOf(lab, place), { phase: 'stopped', saved: undefined });
    for (const child of walkBelow(place)) {
      const c = recordOf(lab, child);
      if (readState(c)?.phase === 'suspended') updateState(c, { phase: 'stopped', pid: undefined });
    }
    gone.push({
      vm: place.vm.name,
      snapshot: saved.managed ? 'managed save' : saved.devices ? 'saved devices and RAM file' : saved.snapshot,
      discarded: remove || !!saved.managed || !!saved.devices,
    });
  }
  return gone;
}
