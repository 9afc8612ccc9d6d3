// tasks/suspend/: a whole lab saved and started again — suspend, resume, golden starts, and
// guarding a saved state from being lost.
//
// Suspending a whole lab (resume.ts starts it again).  A lab's top-level VMs hold everything below them —
// a child's QEMU, its RAM and its disk live inside its parent — so saving each top-level VM
// saves the whole tree; its QEMU then quits.  A VM whose RAM is a file is saved by its devices
// alone (snapshot/devices.ts), else by one live snapshot (QMP snapshot-save: VM state and
// disks, named by graintime).  Resuming starts each one again with the same command
// line plus -loadvm: the children run on inside with the same pids, ports and host keys.
// Measured with raw QEMU on this machine: the Debian-in-Debian lab answered in its child
// 4.45 s after the parent's QEMU started, against 88 s cold (measured on a 2-core TCG host).
// A VM on libvirt is saved with libvirt's managed save instead (virt-manager shows it saved,
// `virsh start` would load it); its children are paused inside it first all the same.
import { withRuntime } from '../vm/runtime.ts';
import { recordOf } from './saved.ts';
import { TaskError, UsageError } from '../util/errors.ts';
import { topMachine } from '../machine/machine-for.ts';
import { hostMachine } from '../machine/host.ts';
import { topPlaces, walkBelow, type LabResolved } from '../spec/tree.ts';
import { readState, updateState } from '../machine/record.ts';
import { vmStatus } from '../vm/status.ts';
import { stopQemu } from '../vm/stop.ts';
import { withoutLoadvm } from '../vm/boot-on.ts';
import { savedBytes } from './saved-size.ts';
import { stopAgent } from '../agent/client.ts';
import { saveAll, type Log } from '../snapshot/many.ts';

export interface SuspendStep {
  vm: string;
  snapshot: string;
  /** Saved by its machine's managed save (libvirt), not as `snapshot` in its qcow2. */
  managed?: boolean;
  /** Only its devices saved, and its RAM copied beside them from the file it ran in. */
  devices?: boolean;
  /** What the saved state takes on disk, where known. */
  bytes?: number;
  /** Seconds the live save took, then QEMU's quit. */
  saveS: number;
  stopS: number;
}

/**
 * Saves every running top-level VM under one graintime name, then ends their QEMUs.  A VM is
 * marked suspended only after its QEMU has ended: a suspend killed halfway leaves a lab
 * whose record says running without a QEMU (crashed), which `up` boots cold.
 */
export async function suspendLab(lab: LabResolved, log: Log): Promise<SuspendStep[]> {
  const places = topPlaces(lab);
  const statuses = await Promise.all(places.map(async (p) => vmStatus(await topMachine(lab, p), lab, p)));
  const booting = statuses.find((s) => s.state === 'booting');
  if (booting) throw new TaskError(`${booting.name} is still booting`, { hint: 'wait until `up` is done, then suspend' });
  const running = places.filter((_, i) => statuses[i]!.state === 'running');
  if (!running.length) {
    if (statuses.some((s) => s.state === 'suspended'))
      throw new UsageError(`lab ${lab.name} is suspended already`, `resume it: npx tsx tasks.ts resume ${lab.name}`);
    throw new UsageError(`nothing to suspend: no VM of lab ${lab.name} is running`, `start it: npx tsx tasks.ts up ${lab.name}`);
  }
  // The lab agent's sessions would only see their guests vanish.
  await stopAgent(lab.name);
  const qemuVersion = (await hostMachine.probe()).qemuVersion;
  const saves = await withRuntime(lab, (parents) => saveAll(lab, running, parents, log, undefined, { managed: true, devices: true }));
  const steps: SuspendStep[] = [];
  for (const save of saves) {
    const place = running.find((p) => p.vm.name === save.vm)!;
    const paths = recordOf(lab, place);
    const record = readState(paths);
    const t0 = performance.now();
    const machine = await topMachine(lab, place);
    const ref = machine.ref(lab, place, record);
    await stopQemu(machine, ref, statuses[places.indexOf(place)]!.pid, { graceful: false });
    const bytes = await savedBytes(lab, place, machine, ref, save);
    const at = new Date().toISOString();
    updateState(paths, {
      phase: 'suspended',
      pid: undefined,
      stoppedAt: at,
      saved: {
        snapshot: save.name,
        ...(save.how === 'managed' ? { managed: true } : save.how === 'devices' ? { devices: true } : {}),
        at,
        qemuVersion,
        ...save.needs,
        argv: withoutLoadvm(record?.argv ?? []),
        ...(bytes !== undefined ? { bytes } : {}),
      },
    });
    // Its children stay as they were, inside its saved RAM.
    for (const child of walkBelow(place)) {
      const c = recordOf(lab, child);
      const phase = readState(c)?.phase;
      if (phase === 'running' || phase === 'booting') updateState(c, { phase: 'suspended' });
    }
    steps.push({
      vm: place.vm.name,
      snapshot: save.name,
      ...(save.how === 'managed' ? { managed: true } : save.how === 'devices' ? { devices: true } : {}),
      ...(bytes !== undefined ? { bytes } : {}),
      saveS: save.seconds,
      stopS: Math.round(performance.now() - t0) / 1000,
    });
  }
  return steps;
}
