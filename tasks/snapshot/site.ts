// Where a VM's snapshots are made: its QMP (when it runs) and qemu-img on the machine that
// holds its disks — this host for a guest of the host, the parent (over SSH) for a nested
// one.  The machine answers both, so every snapshot verb works at any layer.
import { kitPaths } from '../util/paths.ts';
import { TaskError } from '../util/errors.ts';
import type { QmpClient } from '../qemu/qmp.ts';
import { findVm, type LabResolved, type VmPlace } from '../spec/tree.ts';
import { readState } from '../machine/record.ts';
import type { VmStatus } from '../vm/status.ts';
import { vmStatus } from '../vm/status.ts';
import { machineFor } from '../machine/machine-for.ts';
import type { Machine, QemuRef } from '../machine/machine.ts';
import { SessionPool } from '../vm/session-pool.ts';
import type { Guest } from '../ssh/guest.ts';
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

/** Parents' SSH sessions by name, opened once and shared by the sites of their children. */
export class Parents {
  private pool = new SessionPool();
  constructor(private readonly lab: LabResolved) {}

  get(name: string, timeoutMs = 10_000): Promise<Guest> {
    return this.pool.get(this.lab, findVm(this.lab, name)!, timeoutMs);
  }

  /** A session made elsewhere (a boot's own), used as this VM's from now on. */
  adopt(name: string, guest: Guest): void {
    this.pool.adopt(name, guest);
  }

  /** Sessions made before a parent was restored point at a guest that no longer exists. */
  forget(name: string): void {
    this.pool.drop(name, 'its parent was restored');
  }

  closeAll(): void {
    this.pool.closeAll();
  }
}

export async function openSite(lab: LabResolved, place: VmPlace, parents: Parents): Promise<Site> {
  const vm = place.vm;
  const machine = await machineFor(lab, place, (p) => parents.get(p.vm.name)).catch((err) => {
    throw new TaskError(`${vm.name}'s disk is inside ${place.parent?.name}, which cannot be reached: ${(err as Error).message}`, {
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
