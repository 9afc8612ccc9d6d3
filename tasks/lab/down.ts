// `down` for a whole lab: children first, nothing left running even when a child is
// unreachable (a parent that is lost takes its children with it); then what a machine keeps
// of its own (a libvirt domain, its disks) forgotten on request.
import { walkVms, type LabResolved } from '../spec/tree.ts';
import { MachineLost } from '../util/errors.ts';
import { topMachine, unlessLost } from '../machine/machine-for.ts';
import { stopVm } from '../vm/stop.ts';
import { LabRuntime } from '../vm/runtime.ts';
import { stopAgent } from '../agent/client.ts';

export interface DownStep {
  vm: string;
  how: string;
}

/**
 * Stops every VM, deepest first.  A child whose parent is unreachable is recorded stopped: its
 * QEMU runs inside the parent and ends with it.  So is one whose parent stops answering, or is
 * lost (its kernel panicked: seen in CI under TCG's emulated SVM), while the child is being
 * stopped, when that parent is stopped next in this run (or with `force`): `down` must not
 * end half way with the lab still running.
 */
export async function downLab(lab: LabResolved, opts: { force?: boolean; onStep?: (s: DownStep) => void; only?: Set<string> } = {}): Promise<DownStep[]> {
  const steps: DownStep[] = [];
  const goesDown = (name: string) => !opts.only || opts.only.has(name);
  const places = [...walkVms(lab.vms)].filter((p) => goesDown(p.vm.name));
  // The lab agent's sessions would only see their guests go away: end it first.
  if (!opts.only) await stopAgent(lab.name);
  const rt = new LabRuntime(lab);
  try {
    for (let depth = Math.max(0, ...places.map((p) => p.depth)); depth >= 1; depth--) {
      await Promise.all(
        places
          .filter((p) => p.depth === depth)
          .map(async (p) => {
            const machine = await rt.machineOrNone(p);
            const how = await unlessLost(machine, stopVm(machine, lab, p, { graceful: !opts.force })).catch(async (err) => {
              if (!p.parent || !(opts.force || goesDown(p.parent.name))) throw err;
              const why = err instanceof MachineLost ? err.message : `${p.parent.name} stopped answering: ${(err as Error).message}`;
              return `${await stopVm(undefined, lab, p, { graceful: false })} (${why})`;
            });
            const step = { vm: p.vm.name, how };
            steps.push(step);
            opts.onStep?.(step);
          }),
      );
    }
  } finally {
    rt.close();
  }
  return steps;
}

/** After down: each top-level VM its machine keeps a record of (a libvirt domain) is forgotten there, disks and all. */
export async function forgetLab(lab: LabResolved): Promise<DownStep[]> {
  const steps: DownStep[] = [];
  for (const place of walkVms(lab.vms)) {
    if (place.parent) continue;
    const machine = await topMachine(lab, place);
    const how = await machine.forget?.(machine.ref(lab, place));
    if (how) steps.push({ vm: place.vm.name, how });
  }
  return steps;
}
