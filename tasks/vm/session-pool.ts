// SSH sessions kept open and shared: one per VM, made on first use, dropped (and made again
// on the next use) after a failure.  `watch` keeps them between samples; the snapshot verbs
// share a parent's session among its children.
import { findVm, type LabResolved, type VmPlace } from '../spec/tree.ts';
import type { Guest } from '../ssh/guest.ts';
import { connectPlace } from './target.ts';

export class SessionPool {
  private sessions = new Map<string, Promise<Guest>>();

  /** `log` hears each session's life (the lab agent keeps it in agent.log): opened, failed, closed, dropped. */
  constructor(private log: (line: string) => void = () => undefined) {}

  /** A nested VM's session goes through its parent's pooled one, so a lab opens each VM once. */
  get(lab: LabResolved, place: VmPlace, timeoutMs: number): Promise<Guest> {
    const p = this.sessions.get(place.vm.name);
    if (p) return p;
    const parentPlace = place.parent ? findVm(lab, place.parent.name) : undefined;
    return this.keep(
      place.vm.name,
      parentPlace ? this.get(lab, parentPlace, timeoutMs).then((parent) => connectPlace(lab, place, timeoutMs, parent)) : connectPlace(lab, place, timeoutMs),
    );
  }

  /** A session made elsewhere (the boot's own, which ran `uname -a`), kept as this VM's from now on. */
  adopt(name: string, guest: Guest): void {
    this.drop(name, 'another session was handed in');
    this.keep(name, Promise.resolve(guest), 'handed in');
  }

  /** `how`: what the log says of its start (default: how long it took to open). */
  private keep(name: string, p: Promise<Guest>, how?: string): Promise<Guest> {
    const t0 = Date.now();
    p.then(
      // A session the guest or the network ended (a reboot, a snapshot restore) leaves the pool.
      (g) => {
        this.log(`${name}: session ${how ?? `opened in ${Date.now() - t0} ms`}`);
        g.client.once('close', () => {
          const current = this.sessions.get(name) === p;
          this.log(`${name}: session closed${current ? ' by the guest or the network' : ''}`);
          if (current) this.sessions.delete(name);
        });
      },
      (err: Error) => {
        this.log(`${name}: session failed: ${err.message.split('\n')[0]}`);
        if (this.sessions.get(name) === p) this.sessions.delete(name);
      },
    );
    this.sessions.set(name, p);
    return p;
  }

  drop(name: string, why: string): void {
    const p = this.sessions.get(name);
    if (p) this.log(`${name}: session dropped: ${why}`);
    this.sessions.delete(name);
    p?.then(
      (g) => g.close(),
      () => undefined,
    );
  }

  closeAll(): void {
    for (const name of [...this.sessions.keys()]) this.drop(name, 'closing all');
  }
}
