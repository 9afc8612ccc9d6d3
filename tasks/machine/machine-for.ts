// Where a VM's QEMU runs, decided once: a VM of the lab's top level runs on this host (its
// own QEMU, or a libvirt domain when the spec says so), a child inside its parent (the lab
// runtime, vm/runtime.ts, makes that machine over the parent's session).  Everything below is
// told which machine it has and never asks for the VM's depth again.  And what a machine that
// is lost means for the work on it (unlessLost).
import { findVm, libvirtOf, type LabResolved, type VmPlace } from '../spec/tree.ts';
import type { Machine } from './machine.ts';
import { hostMachine } from './host.ts';
import { useLabQemu } from '../qemu/which.ts';
import { localLibvirt } from './libvirt/machine.ts';
import { plannedServer, serverMachine, sshServerOf } from './libvirt/server.ts';
import { plannedGuest } from './guest.ts';
import { every } from '../util/retry.ts';
import { MachineLost } from '../util/errors.ts';

/**
 * The machine a top-level VM runs on: a libvirt connection when the spec says so (this
 * host's libvirtd, or a server's over SSH, whose session is opened once per command), else
 * this host.
 */
export async function topMachine(lab: LabResolved, place: VmPlace): Promise<Machine> {
  // Every QEMU this process runs on this host from now on is the lab's (qemu/which.ts).
  useLabQemu(lab.host.qemu);
  const libvirt = libvirtOf(lab, place);
  if (!libvirt) return hostMachine;
  return sshServerOf(libvirt.uri) ? serverMachine(libvirt) : localLibvirt(libvirt.uri);
}

/**
 * As the lab runtime's machine(place), but only planned for (explain, doc): no parent or server is asked or needs
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
 * `work` on `machine`, given up (MachineLost) once the machine is lost, asked every `everyMs`:
 * inside a parent whose kernel panicked, or whose QEMU ended, every call waits for its SSH
 * session's keepalive to fail, a minute.  A machine that cannot be lost (this host) runs `work`
 * as it is.
 */
export function unlessLost<T>(machine: Machine | undefined, work: Promise<T>, everyMs = 5000): Promise<T> {
  const lost = machine?.lost?.bind(machine);
  if (!lost) return work;
  let asking: { stop(): void } | undefined;
  const watch = new Promise<never>((_, reject) => {
    asking = every(
      everyMs,
      () => lost(),
      (gone) => reject(new MachineLost(gone)),
    );
  });
  return Promise.race([work, watch]).finally(() => asking?.stop());
}
