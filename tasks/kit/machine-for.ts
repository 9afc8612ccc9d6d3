// Where a VM's QEMU runs, decided once: a VM of the lab's top level runs on this host, a
// child inside its parent.  Everything below is told which machine it has and never asks
// for the VM's depth again.
import type { Guest } from './guest.ts';
import { findVm, type LabResolved, type VmPlace } from './resolve.ts';
import type { Machine } from './machine.ts';
import { hostMachine } from './machine-host.ts';
import { GuestMachine } from './machine-guest.ts';

/** An SSH session to a running VM (a pool's, or a fresh one the caller closes). */
export type SessionFor = (place: VmPlace) => Promise<Guest>;

const guestMachines = new WeakMap<Guest, GuestMachine>();

/** The machine inside a running guest, one per session. */
export function machineInside(session: Guest, name: string): GuestMachine {
  let m = guestMachines.get(session);
  if (!m) guestMachines.set(session, (m = new GuestMachine(session, name)));
  return m;
}

/** The machine `place`'s QEMU runs on; a parent that cannot be reached rejects. */
export async function machineFor(lab: LabResolved, place: VmPlace, session: SessionFor): Promise<Machine> {
  if (!place.parent) return hostMachine;
  const parent = findVm(lab, place.parent.name)!;
  return machineInside(await session(parent), parent.vm.name);
}

/** As machineFor, but a parent that cannot be reached gives undefined: its children are down with it. */
export function machineOrNone(lab: LabResolved, place: VmPlace, session: SessionFor): Promise<Machine | undefined> {
  return machineFor(lab, place, session).catch(() => undefined);
}
