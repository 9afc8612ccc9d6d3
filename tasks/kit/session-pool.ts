// SSH sessions kept open and shared: one per VM, made on first use, dropped (and made again
// on the next use) after a failure.  `watch` keeps them between samples; the snapshot verbs
// share a parent's session among its children.
import type { LabResolved, VmPlace } from './resolve.ts';
import type { Guest } from './guest.ts';
import { connectPlace } from './target.ts';

export class SessionPool {
  private sessions = new Map<string, Promise<Guest>>();

  get(lab: LabResolved, place: VmPlace, timeoutMs: number): Promise<Guest> {
    let p = this.sessions.get(place.vm.name);
    if (!p) {
      p = connectPlace(lab, place, timeoutMs);
      p.catch(() => this.sessions.delete(place.vm.name));
      this.sessions.set(place.vm.name, p);
    }
    return p;
  }

  drop(name: string): void {
    const p = this.sessions.get(name);
    this.sessions.delete(name);
    p?.then((g) => g.close(), () => undefined);
  }

  closeAll(): void {
    for (const name of [...this.sessions.keys()]) this.drop(name);
  }
}
