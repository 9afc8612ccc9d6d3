// `snapshot`, `snapshots`, `restore`, `snapshot-rm`: for one VM or every VM of a lab,
// live (QMP, VM state included) when it runs, offline (qemu-img) when it does not.
// Nested VMs are handled inside their parent, children snapshotted before the parent (so
// the parent's snapshot holds theirs) and restored after it.
import { createInterface } from 'node:readline/promises';
import type { TaskContext } from './kit/registry.ts';
import { TaskError, UsageError } from './kit/errors.ts';
import { kitPaths } from './kit/paths.ts';
import type { LabResolved, VmPlace } from './kit/resolve.ts';
import { nestedStatus } from './kit/nested.ts';
import { updateState } from './kit/vm-state.ts';
import { graintimeConfig } from './graintime/config.ts';
import { computeGraintime } from './graintime/stamp.ts';
import { checkSnapshotName, nextFreeName } from './snapshot/names.ts';
import { openSite, Parents, type Site } from './snapshot/site.ts';
import { listSnapshots, loadSnapshot, removeSnapshot, saveSnapshot, snapshotNames, unknownSnapshot, type How, type SnapshotInfo } from './snapshot/ops.ts';
import { snapshotTarget, type SnapshotTarget } from './snapshot/target.ts';
import { renderSnapshotTable, renderSnapshotTree } from './snapshot/render.ts';

export interface StepResult {
  vm: string;
  name: string;
  how: How | 'skipped';
  seconds: number;
  note?: string;
}

const deepestFirst = (places: VmPlace[]) => [...places].sort((a, b) => b.depth - a.depth);

async function withSites<T>(t: SnapshotTarget, fn: (open: (p: VmPlace) => Promise<Site>, parents: Parents) => Promise<T>): Promise<T> {
  const parents = new Parents(t.lab);
  try {
    return await fn((p) => openSite(t.lab, p, parents), parents);
  } finally {
    parents.closeAll();
  }
}

function nameOption(ctx: TaskContext): string | undefined {
  const name = ctx.opts.name;
  if (name === undefined) return undefined;
  if (typeof name !== 'string' || !name) throw new UsageError('--name needs a value');
  const bad = checkSnapshotName(name);
  if (bad) throw new UsageError(`--name: ${bad}`);
  return name;
}

/** The graintime stamp of now, from the user's graintime config. */
function stampNow(): string {
  const c = graintimeConfig();
  return computeGraintime(new Date(), c.place, c.author).stamp;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, Math.round(performance.now() - t0) / 1000];
}

export async function snapshot(ctx: TaskContext): Promise<void> {
  const t = await snapshotTarget(ctx, ctx.args[0]);
  const explicit = nameOption(ctx);
  const steps = await withSites(t, async (open) => {
    // Check every VM before touching any: each can hold a snapshot, none has the name.
    const sites: Site[] = [];
    for (const p of deepestFirst(t.places)) sites.push(await open(p));
    const taken = new Set<string>();
    for (const s of sites) for (const n of await snapshotNames(s)) taken.add(n);
    const name = explicit ?? nextFreeName(stampNow(), taken);
    if (explicit && taken.has(name)) {
      const holders = [];
      for (const s of sites) if ((await snapshotNames(s)).has(name)) holders.push(s.place.vm.name);
      throw new UsageError(`a snapshot named ${name} already exists on ${holders.join(', ')}`, 'choose another --name, or remove it: snapshot-rm');
    }
    const done: StepResult[] = [];
    for (const s of sites) {
      ctx.out.info(`${s.place.vm.name}: ${s.status.state === 'running' ? 'live snapshot (VM state included)' : 'offline snapshot'} ${name} ${s.where}…`);
      try {
        const [how, seconds] = await timed(() => saveSnapshot(s, name));
        done.push({ vm: s.place.vm.name, name, how, seconds });
      } catch (err) {
        if (done.length) ctx.out.warn(`${name} was made on ${done.map((d) => d.vm).join(', ')} before ${s.place.vm.name} failed; those snapshots are kept (snapshot-rm removes them)`);
        throw err;
      }
    }
    return done;
  });
  ctx.out.result(steps, () => steps.map((s) => `${s.vm}: ${s.how} snapshot ${s.name} in ${s.seconds.toFixed(2)} s`).join('\n'));
}

export async function snapshots(ctx: TaskContext): Promise<void> {
  const t = await snapshotTarget(ctx, ctx.args[0]);
  const notes = new Map<string, string>();
  const list = await withSites(t, async (open) => {
    const all: SnapshotInfo[] = [];
    for (const p of t.places) {
      try {
        all.push(...(await listSnapshots(await open(p))));
      } catch (err) {
        // One unreadable VM (a parent that is down, a disk never made) does not hide the rest.
        if (!t.wholeLab) throw err;
        notes.set(p.vm.name, reasonOf(err));
        ctx.out.warn(`${p.vm.name}: ${reasonOf(err)}`);
      }
    }
    return all;
  });
  ctx.out.result(list, () => {
    const table = renderSnapshotTable(list);
    if (!t.wholeLab) return table;
    const tree = renderSnapshotTree(t.lab.name, t.places.map((p) => ({ name: p.vm.name, parent: p.parent?.name, note: notes.get(p.vm.name) })), list);
    return `${table}\n\n${tree}`;
  });
}

const reasonOf = (err: unknown) => (err instanceof TaskError && err.hint ? `${err.message} (${err.hint})` : (err as Error).message);

/** Restoring replaces the current state: only with --yes, --keep-current, or a yes at a terminal. */
async function confirmRestore(ctx: TaskContext, what: string): Promise<void> {
  if (ctx.opts.yes === true || ctx.opts['keep-current'] === true) return;
  const question = `restore ${what}? The current state is lost (--keep-current snapshots it first) [y/N] `;
  if (!process.stdin.isTTY || !process.stderr.isTTY)
    throw new UsageError(`restoring ${what} replaces its current state; not doing that without --yes`, 'pass --yes, or --keep-current to snapshot the current state first');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    if (!/^y(es)?$/i.test((await rl.question(question)).trim())) throw new UsageError('restore cancelled; nothing changed');
  } finally {
    rl.close();
  }
}

export async function restore(ctx: TaskContext): Promise<void> {
  const [targetName, name] = ctx.args;
  if (!name) throw new UsageError('restore needs a snapshot NAME', `list them: npx tsx tasks.ts snapshots ${targetName ?? 'VM'}`);
  const t = await snapshotTarget(ctx, targetName);
  const steps = await withSites(t, async (open, parents) => {
    // Parents first: restoring one puts its children back to where they were then.
    const order = [...t.places].sort((a, b) => a.depth - b.depth);
    const first: Site[] = [];
    for (const p of order) {
      const s = await open(p).catch((err) => (t.wholeLab && p.depth > 1 ? undefined : Promise.reject(err)));
      if (!s) continue;
      const list = await listSnapshots(s);
      if (!list.some((x) => x.name === name)) throw unknownSnapshot(s, name, list);
      first.push(s);
    }
    await confirmRestore(ctx, `${t.wholeLab ? `lab ${t.lab.name}` : first[0]!.place.vm.name} to ${name}`);
    if (ctx.opts['keep-current'] === true) {
      const taken = new Set<string>();
      for (const s of first) for (const n of await snapshotNames(s)) taken.add(n);
      const keep = nextFreeName(stampNow(), taken);
      for (const s of deepestFirst(first.map((x) => x.place)).map((p) => first.find((x) => x.place === p)!)) {
        await saveSnapshot(s, keep);
        ctx.out.info(`${s.place.vm.name}: current state kept as ${keep}`);
      }
    }
    const done: StepResult[] = [];
    for (const p of order) {
      // Reopen: a restored parent is a different guest (new SSH session, children moved).
      const site = await open(p).catch((err) => err as Error);
      if (site instanceof Error) {
        done.push({ vm: p.vm.name, name, how: 'skipped', seconds: 0, note: site.message });
        ctx.out.warn(`${p.vm.name}: not restored: ${site.message}`);
        continue;
      }
      ctx.out.info(`${p.vm.name}: restoring ${name} ${site.status.state === 'running' ? 'live' : 'offline'} ${site.where}…`);
      const [how, seconds] = await timed(() => loadSnapshot(site, name));
      done.push({ vm: p.vm.name, name, how, seconds });
      if (how === 'live' && p.vm.children.length) {
        parents.forget(p.vm.name);
        await reconcileChildren(t.lab, p, parents, ctx);
      }
    }
    return done;
  });
  ctx.out.result(steps, () => steps.map((s) => `${s.vm}: ${s.how === 'skipped' ? `skipped (${s.note})` : `${s.how} restore of ${s.name} in ${s.seconds.toFixed(2)} s`}`).join('\n'));
}

/**
 * After a parent's RAM is put back, its children run (or not) as they did then; the
 * host's records of them follow, so status and down stay true.
 */
async function reconcileChildren(lab: LabResolved, parentPlace: VmPlace, parents: Parents, ctx: TaskContext): Promise<void> {
  const parent = await parents.get(parentPlace.vm.name);
  for (const vm of parentPlace.vm.children) {
    const place: VmPlace = { vm, parent: parentPlace.vm, depth: parentPlace.depth + 1, path: `${parentPlace.path}.children[${parentPlace.vm.children.indexOf(vm)}]` };
    const live = await nestedStatus(lab, place, parent);
    const paths = kitPaths(lab.name, vm.name).vm;
    if (live.state === 'crashed') {
      updateState(paths, { phase: 'stopped', pid: undefined, stoppedAt: new Date().toISOString() });
      ctx.out.info(`${vm.name}: was not running in ${parentPlace.vm.name}'s snapshot; recorded as stopped`);
    } else if (live.state === 'running' && live.pid) updateState(paths, { phase: 'running', pid: live.pid });
  }
}

export async function snapshotRm(ctx: TaskContext): Promise<void> {
  const [targetName, name] = ctx.args;
  if (!name) throw new UsageError('snapshot-rm needs a snapshot NAME', `list them: npx tsx tasks.ts snapshots ${targetName ?? 'VM'}`);
  const t = await snapshotTarget(ctx, targetName);
  const steps = await withSites(t, async (open) => {
    const done: StepResult[] = [];
    const sites: Site[] = [];
    for (const p of t.places) sites.push(await open(p));
    const holders = [];
    for (const s of sites) if ((await snapshotNames(s)).has(name)) holders.push(s);
    if (!holders.length) throw unknownSnapshot(sites[0]!, name, await listSnapshots(sites[0]!));
    for (const s of holders) {
      const [how, seconds] = await timed(() => removeSnapshot(s, name));
      done.push({ vm: s.place.vm.name, name, how, seconds });
    }
    return done;
  });
  ctx.out.result(steps, () => steps.map((s) => `${s.vm}: removed ${s.name} (${s.how})`).join('\n'));
}
