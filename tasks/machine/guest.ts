// A running guest of the lab as the machine its children's QEMUs run in: an SshMachine over
// the guest's session, slow (a TCG guest emulates every fork), its children's runtime files
// in a folder of the login user's, and each child's QMP on the guest's loopback at a port of
// its own (dropbear forwards no unix sockets).
import type { Guest } from '../ssh/guest.ts';
import { CHILD_QMP_PORT_BASE, type VmPlace } from '../spec/tree.ts';
import type { VmState } from './record.ts';
import { imagesFolderStash, type Machine, type QemuRef } from './machine.ts';
import { filesIn, homeOf, SshMachine } from './over-ssh.ts';
import { planned } from './planned.ts';

/** Where root keeps nested VMs' runtime files inside a parent; other users keep them in their home. */
export const GUEST_STATE_DIR = '/var/lib/grainchart/vms';

/** QMP of a child listens on its parent's loopback: 14000 + its index among its siblings. */
export const qmpPortOf = (place: VmPlace) => CHILD_QMP_PORT_BASE + place.parent!.children.indexOf(place.vm);

/** Where a guest keeps its children's runtime files: root in /var/lib, another user in their home. */
export function guestHome(user: string): { home: string; stateDir: string } {
  const home = homeOf(user);
  return { home, stateDir: user === 'root' ? GUEST_STATE_DIR : `${home}/.local/state/grainchart/vms` };
}

/** A child's QEMU as the parent it runs in keeps it, for a parent logged into as `user`. */
export function guestRef(lab: { name: string }, place: VmPlace, user: string, record?: VmState): QemuRef {
  return { name: place.vm.name, paths: filesIn(`${guestHome(user).stateDir}/${lab.name}/${place.vm.name}`), qmpPort: record?.qmpPort ?? qmpPortOf(place) };
}

/** What is said of a guest `name` wherever it runs or is planned. */
const guestIs = (name: string, user: string) => ({
  where: `inside ${name}`,
  inside: name,
  slow: true,
  // QEMU for a parent: Debian's packages, or NixOS's virtualisation options.
  installHint: `install QEMU in ${name}: Debian/Ubuntu: apt-get install qemu-system-x86 qemu-utils; NixOS: the nix-config task's virtualisation lines`,
  ref: (lab: { name: string }, place: VmPlace, record?: VmState) => guestRef(lab, place, user, record),
});

/**
 * The machine inside the running guest `name`, reached over `session`.  `lost` says why that
 * guest is gone, read where its own QEMU runs (the lab runtime knows); a machine made without
 * it serves one quick question (a probe, a dial) and cannot tell.  `reopen` makes a new session
 * when this one has ended.
 */
export function guestMachine(session: Guest, name: string, lost?: SshMachine['lost'], reopen?: () => Promise<Guest>): SshMachine {
  return new SshMachine(session, { ...guestIs(name, session.target.user), lost, reopen });
}

/** A parent as `explain` sees it when it may not be running: where its children's files would be; nothing is asked. */
export function plannedGuest(name: string, user: string): Machine {
  return planned({ ...guestIs(name, user), local: false, readsHostFiles: false, stashPath: imagesFolderStash, home: homeOf(user) });
}
