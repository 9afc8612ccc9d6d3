// Where a VM's QEMU runs, decided once: a VM of the lab's top level runs on this host (its
// own QEMU, or a libvirt domain when the spec says so), a child inside its parent.
// Everything below is told which machine it has and never asks for the VM's depth again.
import type { Guest } from '../ssh/guest.ts';
import { findVm, libvirtOf, type LabResolved, type VmPlace } from '../spec/tree.ts';
import type { Machine } from './machine.ts';
import { hostMachine } from './host.ts';
import { localLibvirt } from './libvirt/machine.ts';
import { plannedServer, serverMachine, sshServerOf } from './libvirt/server.ts';
import { guestMachine, plannedGuest } from './guest.ts';
import type { SshMachine } from './over-ssh.ts';
import { consolePanic } from './kernel-panic.ts';
import { kitPaths } from '../util/paths.ts';
import { readState } from './record.ts';
import { FatalError } from '../util/retry.ts';

/** An SSH session to a running VM (a pool's, or a fresh one the caller closes). */
export type SessionFor = (place: VmPlace) => Promise<Guest>;

const guestMachines = new WeakMap<Guest, SshMachine>();

/** The machine inside a running guest, one per session. */
export function machineInside(session: Guest, name: string): SshMachine {
  let m = guestMachines.get(session);
  if (!m) guestMachines.set(session, (m = guestMachine(session, name)));
  return m;
}

/**
 * The machine a top-level VM runs on: a libvirt connection when the spec says so (this
 * host's libvirtd, or a server's over SSH, whose session is opened once per command), else
 * this host.
 */
export async function topMachine(lab: LabResolved, place: VmPlace): Promise<Machine> {
  const libvirt = libvirtOf(lab, place);
  if (!libvirt) return hostMachine;
  return sshServerOf(libvirt.uri) ? serverMachine(libvirt) : localLibvirt(libvirt.uri);
}

/**
 * As machineFor, but only planned for (explain, doc): no parent or server is asked or needs
 * to run, no session is opened.  This host and its libvirtd are the real ones.
 */
export async function plannedMachine(lab: LabResolved, place: VmPlace): Promise<Machine> {
  if (place.parent) {
    const parent = findVm(lab, place.parent.name)!;
    return plannedGuest(parent.vm.name, parent.vm.ssh.user);
  }
  const libvirt = libvirtOf(lab, place);
  return libvirt && sshServerOf(libvirt.uri) ? plannedServer(libvirt) : topMachine(lab, place);
}

/**
 * The machine `place`'s QEMU runs on; a parent that cannot be reached rejects.  A parent's
 * machine can tell when that parent is lost, read where the parent's own QEMU runs.
 */
export async function machineFor(lab: LabResolved, place: VmPlace, session: SessionFor): Promise<Machine> {
  if (!place.parent) return topMachine(lab, place);
  const parent = findVm(lab, place.parent.name)!;
  const machine = machineInside(await session(parent), parent.vm.name);
  machine.lost ??= (o) => vmLost(lab, parent, session, o);
  return machine;
}

/** How long a guest asked whether it still answers has to run one command. */
const ANSWER_MS = 20_000;

/**
 * Why `place`'s guest is gone, or undefined while it lives: its QEMU ended, its kernel
 * panicked (under TCG's emulated SVM a Debian parent can panic while it runs a child's KVM),
 * or the same of a VM it runs in.  On this host that is a read of /proc and of the serial log.
 * `answering`: also when it runs no command within ANSWER_MS.
 */
async function vmLost(lab: LabResolved, place: VmPlace, session: SessionFor, o: { answering?: boolean } = {}): Promise<string | undefined> {
  const machine = await machineFor(lab, place, session);
  const above = await machine.lost?.();
  if (above) return above;
  const record = readState(kitPaths(lab.name, place.vm.name).vm);
  const ref = machine.ref(lab, place, record);
  if (!(await machine.sample(ref, { fallbackPid: record?.pid })).alive) return `${place.vm.name}'s QEMU ended${machine.at}`;
  // 200 lines: a kernel with panic=-1 (the tiny images) prints its trace and boots again at
  // once, so the panic line soon sits ~40 lines up.  The log is emptied at each boot, so a
  // panic in it is this QEMU's: a parent that panicked and rebooted has lost its children too.
  const panic = await consolePanic(machine, ref, 200);
  if (panic) return `${place.vm.name}'s kernel panicked (${panic})`;
  if (!o.answering) return undefined;
  // A guest can also hang with nothing on its console and its QEMU running on (seen here: a
  // tiny parent on TCG that was starting its child's KVM QEMU never answered again).
  const answers = await session(place)
    .then((g) => g.exec(':', { timeoutMs: ANSWER_MS }))
    .then(
      () => true,
      () => false,
    );
  return answers ? undefined : `${place.vm.name} stopped answering (no command ran in it within ${ANSWER_MS / 1000} s; its QEMU runs on${machine.at})`;
}

/** As machineFor, but a parent that cannot be reached gives undefined: its children are down with it. */
export function machineOrNone(lab: LabResolved, place: VmPlace, session: SessionFor): Promise<Machine | undefined> {
  return machineFor(lab, place, session).catch(() => undefined);
}

/** The machine a boot or a stop ran on is gone (its VM's kernel panicked, or its QEMU ended), and what ran there with it. */
export class MachineLost extends FatalError {}

/**
 * `work` on `machine`, given up (MachineLost) once the machine is lost, asked every `everyMs`:
 * inside a parent whose kernel panicked, or whose QEMU ended, every call waits for its SSH
 * session's keepalive to fail, a minute.  A machine that cannot be lost (this host) runs `work`
 * as it is.
 */
export function unlessLost<T>(machine: Machine | undefined, work: Promise<T>, everyMs = 5000): Promise<T> {
  const lost = machine?.lost?.bind(machine);
  if (!lost) return work;
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const watch = new Promise<never>((_, reject) => {
    const ask = () => {
      timer = setTimeout(async () => {
        const gone = await lost().catch(() => undefined);
        if (settled) return;
        if (gone) reject(new MachineLost(gone));
        else ask();
      }, everyMs);
    };
    ask();
  });
  return Promise.race([work, watch]).finally(() => {
    settled = true;
    clearTimeout(timer);
  });
}
