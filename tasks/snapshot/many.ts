// Snapshot verbs over several VMs of one lab, shared by the snapshot tasks and `smoke`:
// save children before parents (a parent's snapshot then holds its children's), restore
// parents before children (restoring a parent moves its children back in time).
import { UsageError } from '../util/errors.ts';
import { kitPaths } from '../util/paths.ts';
import type { LabResolved, VmPlace } from '../spec/tree.ts';
import { vmStatus } from '../vm/status.ts';
import { DEAD_QMP } from '../vm/status.ts';
import { readState, updateState } from '../machine/record.ts';
import type { QmpStatus } from '../qemu/qmp.ts';
import { withQmp, type QemuRef } from '../machine/machine.ts';
import { graintimeConfig } from '../graintime/config.ts';
import { computeGraintime } from '../graintime/stamp.ts';
import { nextFreeName } from './names.ts';
import { saveByDevices, savesByDevices } from './devices.ts';
import { openSite, type Site } from './site.ts';
import { pauseChildrenByPort } from './paused-by-port.ts';
import type { LabRuntime } from '../vm/runtime.ts';
import { readStateNeeds, type StateNeeds } from '../qemu/state-needs.ts';
import { listSnapshots, loadSnapshot, removeSnapshot, saveSnapshot, snapshotNames, unknownSnapshot, type How } from './ops.ts';

export interface StepResult {
  vm: string;
  name: string;
  how: How | 'managed' | 'devices' | 'skipped';
  seconds: number;
  note?: string;
  /** A live save's: the machine type and CPU model its QEMU ran, which a load needs (qemu/state-needs.ts). */
  needs?: StateNeeds;
}

export interface Log {
  info(m: string): void;
  warn(m: string): void;
}

const deepestFirst = (places: VmPlace[]) => [...places].sort((a, b) => b.depth - a.depth);
const shallowestFirst = (places: VmPlace[]) => [...places].sort((a, b) => a.depth - b.depth);

/** The graintime stamp of now, from the user's graintime config. */
export function stampNow(): string {
  const c = graintimeConfig();
  return computeGraintime(new Date(), c.place, c.author).stamp;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, Math.round(performance.now() - t0) / 1000];
}

/**
 * Snapshots every place under one name (default: the graintime of now, `.2` if taken).
 * Every VM is checked first (can hold a snapshot, does not have the name); a failure
 * halfway keeps the snapshots already made and says which.  `managed` (suspend): a running
 * VM whose machine has a managed save of its own (libvirt) is saved that way, which also ends
 * its QEMU, and not as a snapshot in its qcow2.
 */
export async function saveAll(
  lab: LabResolved,
  places: VmPlace[],
  parents: LabRuntime,
  log: Log,
  explicit?: string,
  opts: { managed?: boolean; devices?: boolean } = {},
): Promise<StepResult[]> {
  const sites: Site[] = [];
  for (const p of deepestFirst(places)) sites.push(await openSite(lab, p, parents));
  const taken = new Map<string, string[]>();
  for (const s of sites) for (const n of await snapshotNames(s)) taken.set(n, [...(taken.get(n) ?? []), s.place.vm.name]);
  const name = explicit ?? nextFreeName(stampNow(), new Set(taken.keys()));
  if (taken.has(name))
    throw new UsageError(`a snapshot named ${name} already exists on ${taken.get(name)!.join(', ')}`, 'choose another --name, or remove it: snapshot-rm');
  const done: StepResult[] = [];
  for (const s of sites) {
    const managed = opts.managed && s.status.state === 'running' ? s.machine.managedSave : undefined;
    const devices = !managed && opts.devices && (await savesByDevices(s));
    log.info(
      `${s.place.vm.name}: ${managed ? 'managed save (VM state, kept by the machine)' : devices ? 'devices saved, the RAM copied beside them' : s.status.state === 'running' ? 'live snapshot (VM state included)' : 'offline snapshot'} ${name} ${s.where}…`,
    );
    const save = managed ? () => managed.save(s.ref).then(() => 'managed' as const) : devices ? () => saveByDevices(s) : () => saveSnapshot(s, name);
    try {
      // Read before the save (a devices save ends the QEMU); a managed save is the machine's to check.
      // Unread (a monitor that did not answer), the resume checks only the QEMU version.
      const needs = s.status.state === 'running' && !managed ? await withQmp(s.machine, s.ref, 3000, readStateNeeds).catch(() => undefined) : undefined;
      const [how, seconds] = await timed(() => (s.status.state === 'running' ? withChildrenPaused(lab, s, parents, save) : save()));
      done.push({ vm: s.place.vm.name, name, how, seconds, ...(needs ? { needs } : {}) });
    } catch (err) {
      if (done.length)
        log.warn(
          `${name} was made on ${done.map((d) => d.vm).join(', ')} before ${s.place.vm.name} failed; those snapshots are kept (snapshot-rm removes them)`,
        );
      throw err;
    }
  }
  return done;
}

/** The places of a VM's children, as walkVms makes them. */
const childPlaces = (p: VmPlace): VmPlace[] => p.vm.children.map((vm, i) => ({ vm, parent: p.vm, depth: p.depth + 1, path: `${p.path}.children[${i}]` }));

/**
 * Runs `fn` (a live save of `place`) with its running children paused (QMP stop inside it),
 * then lets them go on.  A vCPU saved while it ran a child (nested guest mode) cannot be
 * loaded under TCG — QEMU 7.2 refuses: "vCPU set in guest-mode inconsistent with migrated
 * kernel nested state" — and no vCPU of the parent is in guest mode while its children's
 * are stopped.  The saved state holds them paused: reconcileChildren lets them go on after
 * every load.
 */
async function withChildrenPaused<T>(lab: LabResolved, site: Site, parents: LabRuntime, fn: () => Promise<T>): Promise<T> {
  const place = site.place;
  if (!place.vm.children.length) return fn();
  // Through the parent's port shell where it has one: no SSH handshake.
  const goOn = await pauseChildrenByPort(lab, place, site.machine, site.ref);
  if (goOn)
    try {
      return await fn();
    } finally {
      await goOn();
    }
  // A parent that cannot be reached over SSH has no children running that the kit knows of.
  const machine = await parents.inside(place).catch(() => undefined);
  if (!machine) return fn();
  const paused: QemuRef[] = [];
  try {
    for (const child of childPlaces(place)) {
      if ((await vmStatus(machine, lab, child)).state !== 'running') continue;
      const ref = machine.ref(lab, child, readState(kitPaths(lab.name, child.vm.name).vm));
      await withQmp(machine, ref, 5000, (c) => c.execute('stop', undefined, 5000));
      paused.push(ref);
    }
    return await fn();
  } finally {
    for (const ref of paused) await withQmp(machine, ref, 5000, (c) => c.execute('cont', undefined, 5000)).catch(() => undefined);
  }
}

/** Checks that every place has `name` (nested ones only when their parent is reachable). */
export async function checkAllHave(
  lab: LabResolved,
  places: VmPlace[],
  parents: LabRuntime,
  name: string,
  tolerateUnreachableNested: boolean,
): Promise<Site[]> {
  const sites: Site[] = [];
  for (const p of shallowestFirst(places)) {
    const s = await openSite(lab, p, parents).catch((err) => (tolerateUnreachableNested && p.depth > 1 ? undefined : Promise.reject(err)));
    if (!s) continue;
    const list = await listSnapshots(s);
    if (!list.some((x) => x.name === name)) throw unknownSnapshot(s, name, list);
    sites.push(s);
  }
  return sites;
}

/** Restores every place to `name`, parents first; a VM whose parent cannot be reached is skipped and said so. */
export async function restoreAll(lab: LabResolved, places: VmPlace[], parents: LabRuntime, log: Log, name: string): Promise<StepResult[]> {
  const done: StepResult[] = [];
  for (const p of shallowestFirst(places)) {
    // Opened anew: a restored parent is a different guest (new SSH session, children moved).
    const site = await openSite(lab, p, parents).catch((err) => err as Error);
    if (site instanceof Error) {
      done.push({ vm: p.vm.name, name, how: 'skipped', seconds: 0, note: site.message });
      log.warn(`${p.vm.name}: not restored: ${site.message}`);
      continue;
    }
    log.info(`${p.vm.name}: restoring ${name} ${site.status.state === 'running' ? 'live' : 'offline'} ${site.where}…`);
    const [how, seconds] = await timed(() => loadSnapshot(site, name));
    done.push({ vm: p.vm.name, name, how, seconds });
    if (how === 'live' && p.vm.children.length) {
      parents.drop(p.vm.name, 'its parent was restored');
      await reconcileChildren(lab, p, parents, log);
    }
  }
  return done;
}

/**
 * After a parent's RAM is put back, its children run (or not) as they did then; the
 * host's records of them follow, so status and down stay true.
 */
export async function reconcileChildren(lab: LabResolved, parentPlace: VmPlace, parents: LabRuntime, log: Log): Promise<void> {
  const machine = await parents.inside(parentPlace);
  for (const place of childPlaces(parentPlace)) {
    const vm = place.vm;
    const paths = kitPaths(lab.name, vm.name).vm;
    // Saved paused (withChildrenPaused), a child goes on now; its QMP status as it was found.
    const goOn = () =>
      withQmp(machine, machine.ref(lab, place, readState(paths)), 5000, async (c) => {
        const s = await c.execute<QmpStatus>('query-status', undefined, 5000);
        if (s.status === 'paused') await c.execute('cont', undefined, 5000);
        return s.status;
      });
    // A child saved with its parent (suspend) runs on inside with the pid it had then: its
    // QMP answering is proof enough, without a look at the parent's /proc (an exec fewer in
    // a TCG parent, ~0.3 s with a Debian).  After a restore the pid may be another's: asked in full.
    const record = readState(paths);
    if (record?.phase === 'suspended' && record.pid) {
      const status = await goOn().catch(() => undefined);
      if (status && !DEAD_QMP.has(status)) {
        updateState(paths, { phase: 'running' });
        continue;
      }
    }
    const live = await vmStatus(machine, lab, place);
    if (live.state === 'crashed') {
      updateState(paths, { phase: 'stopped', pid: undefined, stoppedAt: new Date().toISOString() });
      log.info(`${vm.name}: was not running in ${parentPlace.vm.name}'s snapshot; recorded as stopped`);
    } else if (live.state === 'running' && live.pid) {
      updateState(paths, { phase: 'running', pid: live.pid });
      if (live.qmpStatus === 'paused') await goOn();
    }
  }
}

/** Removes `name` from every place that has it; an error when none has. */
export async function removeAll(lab: LabResolved, places: VmPlace[], parents: LabRuntime, name: string): Promise<StepResult[]> {
  const sites: Site[] = [];
  for (const p of places) sites.push(await openSite(lab, p, parents));
  const holders: Site[] = [];
  for (const s of sites) if ((await snapshotNames(s)).has(name)) holders.push(s);
  if (!holders.length) throw unknownSnapshot(sites[0]!, name, await listSnapshots(sites[0]!));
  const done: StepResult[] = [];
  for (const s of holders) {
    const [how, seconds] = await timed(() => removeSnapshot(s, name));
    done.push({ vm: s.place.vm.name, name, how, seconds });
  }
  return done;
}
