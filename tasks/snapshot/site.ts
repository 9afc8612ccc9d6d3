// Where a VM's snapshots are made: its QMP (when it runs) and qemu-img in the filesystem
// that holds its disks — the host's for a guest of the host, the parent's (over SSH) for a
// nested one.  One interface, so every snapshot verb works at any layer.
import { kitPaths } from '../kit/paths.ts';
import { run } from '../kit/exec.ts';
import { TaskError } from '../kit/errors.ts';
import { QmpClient } from '../kit/qmp.ts';
import { findVm, type LabResolved, type VmPlace } from '../kit/resolve.ts';
import { liveStatus, readState, type VmStatus } from '../kit/vm-state.ts';
import { innerPaths, nestedStatus, qmpPortOf } from '../kit/nested-status.ts';
import { SessionPool } from '../kit/session-pool.ts';
import { shellQuote, type Guest } from '../kit/guest.ts';
import { snapshotDisks } from './disks.ts';

export interface Site {
  lab: LabResolved;
  place: VmPlace;
  status: VmStatus;
  /** Its qcow2 files, as paths where qemu-img runs. */
  disks: string[];
  /** Where they are, for messages: "the host" or "inside l1". */
  where: string;
  qmp(timeoutMs?: number): Promise<QmpClient>;
  qemuImg(args: string[], timeoutMs?: number): Promise<string>;
}

/** Parents' SSH sessions by name, opened once and shared by the sites of their children. */
export class Parents {
  private pool = new SessionPool();
  constructor(private readonly lab: LabResolved) {}

  get(name: string): Promise<Guest> {
    return this.pool.get(this.lab, findVm(this.lab, name)!, 10_000);
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
  if (place.depth === 1) {
    const paths = kitPaths(lab.name, vm.name);
    const disks = snapshotDisks(vm, paths);
    const status = await liveStatus(paths.vm, { lab: lab.name, name: vm.name, depth: 1 });
    return {
      lab,
      place,
      status,
      disks,
      where: 'the host',
      qmp: (timeoutMs = 3000) => QmpClient.connect(paths.vm.qmp, timeoutMs),
      qemuImg: async (args, timeoutMs = 120_000) => (await run(['qemu-img', ...args], { timeoutMs, hint: 'is another program holding the image? is the disk full?' })).stdout,
    };
  }
  const parentName = place.parent!.name;
  const inner = innerPaths(lab.name, vm.name);
  const disks = snapshotDisks(vm, { home: '/root', vm: inner });
  const parent = await parents.get(parentName).catch((err) => {
    throw new TaskError(`${vm.name}'s disk is inside ${parentName}, which cannot be reached: ${(err as Error).message}`, {
      hint: `start it first: npx tsx tasks.ts up ${lab.name}`,
    });
  });
  const status = await nestedStatus(lab, place, parent);
  const port = readState(kitPaths(lab.name, vm.name).vm)?.qmpPort ?? qmpPortOf(place);
  return {
    lab,
    place,
    status,
    disks,
    where: `inside ${parentName}`,
    qmp: async (timeoutMs = 3000) => QmpClient.over(await parent.forwardOut(port), `127.0.0.1:${port} in ${parentName}`, timeoutMs),
    qemuImg: async (args) => {
      const cmd = ['qemu-img', ...args].map(shellQuote).join(' ');
      const r = await parent.exec(cmd);
      if (r.code !== 0) throw new TaskError(`qemu-img failed inside ${parentName}`, { command: ['qemu-img', ...args], exitCode: r.code, stdout: r.stdout, stderr: r.stderr });
      return r.stdout;
    },
  };
}

/** Live snapshots need QEMU answering; a crashed VM's disks are free for qemu-img. */
export function isLive(site: Site): boolean {
  if (site.status.state === 'booting')
    throw new TaskError(`${site.place.vm.name} is still booting`, { hint: 'wait for it to finish (status shows running), then try again' });
  return site.status.state === 'running';
}
