// tasks/lab/: a whole lab at once — up, down, its lock, its status, its OpenSSH config.
//
// `up` for a whole lab: every VM that is not running booted on its machine, parents before
// children at any depth, siblings on this host in parallel when their memory fits; a parent
// lost while its children boot is booted once more, then its children.
import { findVm, walkVms, type LabResolved, type VmPlace } from '../spec/tree.ts';
import { UsageError } from '../util/errors.ts';
import { probeHost } from '../qemu/host-probe.ts';
import type { Guest } from '../ssh/guest.ts';
import { withQmp, type Machine } from '../machine/machine.ts';
import { readState } from '../machine/record.ts';
import { kitPaths } from '../util/paths.ts';
import { runOn, STOPPED_BY_SAVE } from '../qemu/migrate.ts';
import { bootVm, type BootResult } from '../vm/boot.ts';
import { ParentLost } from '../util/errors.ts';
import { stopVm } from '../vm/stop.ts';
import { vmStatus } from '../vm/status.ts';
import { LabRuntime } from '../vm/runtime.ts';

export interface UpStep {
  vm: string;
  parent?: string;
  action: 'booted' | 'kept';
  seconds: number;
  result?: BootResult;
}

/**
 * Boots every VM of the lab that is not running, layer by layer, parents before children, at
 * any depth: each VM on its machine (this host, or inside its parent over one pooled session
 * per parent).  The host's VMs boot in parallel when their memory fits what is free; a
 * parent's children one after another (they share the parent's emulated CPUs).
 */
export async function upLab(
  lab: LabResolved,
  opts: {
    quiet?: boolean;
    warn?: (m: string) => void;
    info?: (m: string) => void;
    onStep?: (s: UpStep) => void;
    signal?: AbortSignal;
    /** Every VM this run boots gets a new root disk from its image (running ones are kept as they are). */
    fresh?: boolean;
  } = {},
): Promise<UpStep[]> {
  const steps: UpStep[] = [];
  // A VM booted again (after its parent was) keeps one step: its last.
  const record = (s: UpStep) => {
    const i = steps.findIndex((x) => x.vm === s.vm);
    if (i === -1) steps.push(s);
    else steps[i] = s;
    opts.onStep?.(s);
  };
  const places = [...walkVms(lab.vms)];
  const free = (await probeHost()).freeMemoryMiB;
  const rt = new LabRuntime(lab);
  const bootOne = async (machine: Machine, p: VmPlace, quiet: boolean) => {
    const t0 = Date.now();
    const live = await vmStatus(machine, lab, p);
    if (live.state === 'running') {
      // A suspend cut short (the kit killed while it saved) leaves the VM stopped where it was: it goes on.
      if (!p.parent && STOPPED_BY_SAVE.includes(live.qmpStatus ?? '')) {
        opts.warn?.(`${p.vm.name} was left ${live.qmpStatus} (a suspend cut short?); letting it run on`);
        await withQmp(machine, machine.ref(lab, p, readState(kitPaths(lab.name, p.vm.name).vm)), 5000, runOn);
      }
      return record({ vm: p.vm.name, parent: p.parent?.name, action: 'kept', seconds: 0 });
    }
    if (opts.signal?.aborted) throw new UsageError('interrupted');
    // A parent's boot hands its SSH session to the pool its children are booted through.
    const keepSession = p.vm.children.length ? (g: Guest) => rt.adopt(p.vm.name, g) : undefined;
    const result = await bootVm(machine, lab, p, {
      quiet,
      warn: opts.warn,
      signal: opts.signal,
      checked: live.state === 'stopped',
      keepSession,
      fresh: opts.fresh,
    });
    record({ vm: p.vm.name, parent: p.parent?.name, action: 'booted', seconds: (Date.now() - t0) / 1000, result });
  };
  const bootGroup = async (group: VmPlace[]) => {
    // Each VM's own machine: siblings at the top may run on this host, its libvirtd and a server's.
    const machines = await Promise.all(group.map((p) => rt.machine(p)));
    const parallel = !group[0]!.parent && group.length > 1 && group.reduce((sum, p) => sum + p.vm.memory, 0) < free * 0.8;
    if (parallel) await Promise.all(group.map((p, i) => bootOne(machines[i]!, p, true)));
    else for (const [i, p] of group.entries()) await bootOne(machines[i]!, p, opts.quiet === true);
  };
  // A parent this `up` booted that is lost while its children boot (under TCG's emulated SVM a
  // Debian parent's kernel can panic while it runs a child's KVM) boots once more, and its
  // children after it: a cold boot loses nothing that the panicked kernel had not.
  const again = new Set<string>();
  const bootGroupOrParentAgain = async (group: VmPlace[]) => {
    try {
      await bootGroup(group);
    } catch (err) {
      if (!(err instanceof ParentLost)) throw err;
      const parent = findVm(lab, err.parent);
      if (!parent || again.has(parent.vm.name) || steps.find((s) => s.vm === parent.vm.name)?.action !== 'booted') throw err;
      again.add(parent.vm.name);
      opts.warn?.(`${err.message.split('\n')[0]}; booting ${parent.vm.name} again, once, then its children`);
      rt.drop(parent.vm.name, 'its guest was lost');
      const machine = await rt.machine(parent);
      await stopVm(machine, lab, parent, { graceful: false });
      await bootOne(machine, parent, opts.quiet === true);
      await bootGroup(group);
    }
  };
  try {
    for (let depth = 1; depth <= Math.max(0, ...places.map((p) => p.depth)); depth++)
      await Promise.all(groupByParent(places.filter((p) => p.depth === depth)).map(bootGroupOrParentAgain));
  } finally {
    rt.close();
  }
  return steps;
}

/** Siblings together: the host's VMs in one group, each parent's children in one. */
function groupByParent(places: VmPlace[]): VmPlace[][] {
  const m = new Map<string, VmPlace[]>();
  for (const p of places) m.set(p.parent?.name ?? '', [...(m.get(p.parent?.name ?? '') ?? []), p]);
  return [...m.values()];
}
