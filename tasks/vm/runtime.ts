// The lab runtime: the one way to get a machine or an SSH session for a place of a lab.
// Sessions are pooled, one per VM, a child's through its parent's; the machine inside a guest
// is made once, with its lost-parent watch from the start (nothing patches it later) and its
// sessions from the pool, so every boot, stop, status and snapshot inside a parent notices at
// once when that parent panics or its QEMU ends, instead of waiting out a dead session's
// keepalives, and goes on over a new session when only the connection ended.
// Open one per command (withRuntime), or keep one as long as its sessions (the lab agent).
import type { Guest } from '../ssh/guest.ts';
import { findVm, type LabResolved, type VmPlace } from '../spec/tree.ts';
import { kitPaths } from '../util/paths.ts';
import type { Machine } from '../machine/machine.ts';
import { topMachine } from '../machine/machine-for.ts';
import { guestMachine } from '../machine/guest.ts';
import { consolePanic } from '../machine/kernel-panic.ts';
import { readState } from '../machine/record.ts';
import { SessionPool } from './session-pool.ts';

/** How long a guest asked whether it still answers has to run one command. */
const ANSWER_MS = 20_000;

export class LabRuntime {
  private readonly pool: SessionPool;
  private readonly owned: boolean;
  private readonly guests = new Map<string, Machine>();
  readonly timeoutMs: number;

  /** `pool`: sessions kept by the caller beyond this runtime (the lab agent's); else its own, closed by close(). */
  constructor(
    readonly lab: LabResolved,
    o: { timeoutMs?: number; pool?: SessionPool } = {},
  ) {
    this.pool = o.pool ?? new SessionPool();
    this.owned = !o.pool;
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  /** An SSH session to the running VM `place`, pooled; a child's goes through its parent's. */
  session(place: VmPlace, timeoutMs = this.timeoutMs): Promise<Guest> {
    return this.pool.get(this.lab, place, timeoutMs);
  }

  /** As session, by the VM's name. */
  sessionOf(name: string, timeoutMs = this.timeoutMs): Promise<Guest> {
    return this.session(findVm(this.lab, name)!, timeoutMs);
  }

  /** The machine inside the running guest `place`, where its children's QEMUs run; rejects when it cannot be reached. */
  async inside(place: VmPlace): Promise<Machine> {
    const session = await this.session(place);
    const known = this.guests.get(place.vm.name);
    if (known) return known;
    // A session that ends under a boot or a stop (a dropbear that dropped it) is made again
    // by the machine on its next call, from this pool: the work on it goes on.
    const machine = guestMachine(
      session,
      place.vm.name,
      (o) => this.lost(place, o),
      () => this.session(place),
    );
    this.guests.set(place.vm.name, machine);
    return machine;
  }

  /** The machine `place`'s QEMU runs on: a top-level VM's (this host, a libvirtd), a child's inside its parent. */
  machine(place: VmPlace): Promise<Machine> {
    return place.parent ? this.inside(findVm(this.lab, place.parent.name)!) : topMachine(this.lab, place);
  }

  /** As machine, but a parent that cannot be reached gives undefined: its children are down with it. */
  machineOrNone(place: VmPlace): Promise<Machine | undefined> {
    return this.machine(place).catch(() => undefined);
  }

  /** A session made elsewhere (a boot's own, which ran `uname -a`), kept as this VM's from now on. */
  adopt(name: string, guest: Guest): void {
    this.pool.adopt(name, guest);
  }

  /** Drops a VM's session (its guest was lost or put back to an earlier state); the next use makes a new one. */
  drop(name: string, why: string): void {
    this.pool.drop(name, why);
    this.guests.delete(name);
  }

  close(): void {
    if (this.owned) this.pool.closeAll();
    this.guests.clear();
  }

  /**
   * Why `place`'s guest is gone, or undefined while it lives: its QEMU ended, its kernel
   * panicked (under TCG's emulated SVM a Debian parent can panic while it runs a child's KVM),
   * or the same of a VM it runs in.  On this host that is a read of /proc and of the serial log.
   * `answering`: also when it runs no command within ANSWER_MS.
   */
  private async lost(place: VmPlace, o: { answering?: boolean } = {}): Promise<string | undefined> {
    const machine = await this.machine(place);
    const above = await machine.lost?.();
    if (above) return above;
    const record = readState(kitPaths(this.lab.name, place.vm.name).vm);
    const ref = machine.ref(this.lab, place, record);
    if (!(await machine.sample(ref, { fallbackPid: record?.pid })).alive) return `${place.vm.name}'s QEMU ended${machine.at}`;
    // 200 lines: a kernel with panic=-1 (the tiny images) prints its trace and boots again at
    // once, so the panic line soon sits ~40 lines up.  The log is emptied at each boot, so a
    // panic in it is this QEMU's: a parent that panicked and rebooted has lost its children too.
    const panic = await consolePanic(machine, ref, 200);
    if (panic) return `${place.vm.name}'s kernel panicked (${panic})`;
    if (!o.answering) return undefined;
    // A guest can also hang with nothing on its console and its QEMU running on (seen here: a
    // tiny parent on TCG that was starting its child's KVM QEMU never answered again).
    const answers = await this.session(place)
      .then((g) => g.exec(':', { timeoutMs: ANSWER_MS }))
      .then(
        () => true,
        () => false,
      );
    return answers ? undefined : `${place.vm.name} stopped answering (no command ran in it within ${ANSWER_MS / 1000} s; its QEMU runs on${machine.at})`;
  }
}

/** `f` with a runtime of its own for `lab`, closed after (its sessions with it). */
export async function withRuntime<T>(lab: LabResolved, f: (rt: LabRuntime) => Promise<T>, o: { timeoutMs?: number } = {}): Promise<T> {
  const rt = new LabRuntime(lab, o);
  try {
    return await f(rt);
  } finally {
    rt.close();
  }
}
