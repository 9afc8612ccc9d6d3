// After top-level VMs started from a saved state: the host's records of their children follow
// what runs inside, then every running layer answers and gets the host's time — through the
// kit's port shells where the whole tree has them (ready-by-port.ts: no handshake), else over
// SSH sessions, one pooled session per VM.
import { withRuntime } from '../vm/runtime.ts';
import { recordOf } from './saved.ts';
import { walkBelow, type LabResolved, type VmPlace } from '../spec/tree.ts';
import { readState } from '../machine/record.ts';
import type { VmStatus } from '../vm/status.ts';
import { labStatus } from '../lab/status.ts';
import type { Guest } from '../ssh/guest.ts';
import { reconcileChildren } from '../snapshot/many.ts';
import { clockCommand, layerReady, type LayerReady } from './layer-clock.ts';
import { readyByPorts } from './ready-by-port.ts';

export interface AfterStart {
  layers: LayerReady[];
  /** The lab's status, read right after over the same channels. */
  status: VmStatus[];
}

export interface AfterStartOptions {
  warn?: (m: string) => void;
  /** How long each top-level guest had been up when it was saved. */
  savedUptimeS?: Map<string, number>;
  /** The boots' own SSH sessions, taken over. */
  handed?: Map<string, Guest>;
  /** Ask through the port shells first (the boots did not wait for SSH). */
  byPort?: boolean;
}

export async function afterStart(lab: LabResolved, started: VmPlace[], t0: number, o: AfterStartOptions = {}): Promise<AfterStart> {
  if (o.byPort) {
    const quick = await readyByPorts(lab, started, t0, o);
    if (quick) return quick;
  }
  // One pooled session per VM for all of it, the boots' own first: each SSH handshake costs ~0.4 s under TCG.
  return withRuntime(lab, async (parents) => {
    for (const [name, g] of o.handed ?? []) parents.adopt(name, g);
    for (const p of started) if (p.vm.children.length) await reconcileChildren(lab, p, parents, { info: () => undefined, warn: () => undefined });
    // Every layer at once: each is set from the host's clock, not its parent's, and a child's
    // session goes through its parent's pooled one.
    const places = started.flatMap((top) => [top, ...walkBelow(top)]);
    const ready = places.filter((p) => readState(recordOf(lab, p))?.phase === 'running' && p.vm.network.sshPort !== undefined);
    const layers = await Promise.all(
      ready.map(async (place): Promise<LayerReady> => {
        const g = await parents.sessionOf(place.vm.name, 60_000);
        const now = Date.now() / 1000;
        const out = await g.succeed(clockCommand(now), 120_000);
        return layerReady(lab, place, out, now, t0, 'ssh', o.savedUptimeS?.get(place.vm.name), o.warn);
      }),
    );
    // Over the sessions still open: a status read afresh would open them again (~0.4 s under TCG).
    return { layers, status: await labStatus(lab, parents) };
  });
}
