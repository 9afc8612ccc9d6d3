// Where a VM's snapshots are made: its QMP (when it runs) and qemu-img on the machine that
// holds its disks — this host for a guest of the host, the parent (over SSH) for a nested
// one.  The machine answers both, so every snapshot verb works at any layer.
import type { LabRuntime } from '../vm/runtime.ts';
import { kitPaths } from '../util/paths.ts';
import { TaskError } from '../util/errors.ts';
import type { QmpClient } from '../qemu/qmp.ts';
import type { LabResolved, VmPlace } from '../spec/tree.ts';
import { readState } from '../machine/record.ts';
import type { VmStatus } from '../vm/status.ts';
import { vmStatus } from '../vm/status.ts';
import type { Machine, QemuRef } from '../machine/machine.ts';
import { snapshotDisks } from './disks.ts';

export interface Site {
  lab: LabResolved;
  place: VmPlace;
  status: VmStatus;
  /** Its qcow2 files, as paths where qemu-img runs. */
  disks: string[];
  /** The machine its QEMU runs on, and where that is for messages: "on this host", "inside l1". */
  machine: Machine;
  /** Its QEMU as that machine keeps it. */
  ref: QemuRef;
  where: string;
  qmp(timeoutMs?: number): Promise<QmpClient>;
  qemuImg(args: string[], timeoutMs?: number): Promise<string>;
}

export async function openSite(lab: LabResolved, place: VmPlace, rt: LabRuntime): Promise<Site> {
  const vm = place.vm;
  const machine = await rt.machine(place).catch((err: Error) => {
    throw new TaskError(`${vm.name}'s disk is inside ${place.parent?.name}, which cannot be reached: ${err.message}`, {
      hint: `start it first: npx tsx tasks.ts up ${lab.name}`,
    });
  });
  const ref = machine.ref(lab, place, readState(kitPaths(lab.name, vm.name).vm));
  const disks = snapshotDisks(vm, { home: machine.home, vm: ref.paths });
  const status = await vmStatus(machine, lab, place);
  return {
    lab,
    place,
    status,
    disks,
    machine,
    ref,
    where: machine.where,
    qmp: (timeoutMs = 3000) => machine.qmp(ref, timeoutMs),
    qemuImg: (args, timeoutMs = 120_000) => machine.run(['qemu-img', ...args], timeoutMs),
  };
}

/** Live snapshots need QEMU answering; a crashed VM's disks are free for qemu-img. */
export function isLive(site: Site): boolean {
  if (site.status.state === 'booting')
    throw new TaskError(`${site.place.vm.name} is still booting`, { hint: 'wait for it to finish (status shows running), then try again' });
  return site.status.state === 'running';
}
