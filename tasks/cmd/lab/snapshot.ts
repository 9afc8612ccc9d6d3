// `snapshot`, `snapshots`, `restore`, `snapshot-rm`: for one VM or every VM of a lab,
// live (QMP, VM state included) when it runs, offline (qemu-img) when it does not.
// Nested VMs are handled inside their parent; the order rules live in snapshot/many.ts.
import { withRuntime } from '../../vm/runtime.ts';
import { withLabLock } from '../../lab/lock.ts';
import type { TaskContext } from '../../cli/registry.ts';
import { TaskError, UsageError } from '../../util/errors.ts';
import { snapshotNameOption } from '../../snapshot/names.ts';
import { openSite } from '../../snapshot/site.ts';
import { listSnapshots, type SnapshotInfo } from '../../snapshot/ops.ts';
import { checkAllHave, removeAll, restoreAll, saveAll } from '../../snapshot/many.ts';
import { snapshotTarget } from '../../snapshot/target.ts';
import { renderSnapshotTable, renderSnapshotTree } from '../../snapshot/render.ts';
import { releaseSavedFor } from '../../suspend/guard.ts';
import { confirmLoss } from '../../cli/confirm.ts';

export async function snapshot(ctx: TaskContext): Promise<void> {
  const t = await snapshotTarget(ctx, ctx.args[0]);
  const explicit = snapshotNameOption(ctx.opts, 'name');
  const steps = await withLabLock(t.lab.name, 'snapshot', () => withRuntime(t.lab, (parents) => saveAll(t.lab, t.places, parents, ctx.out, explicit)), {
    say: ctx.out.info,
  });
  ctx.out.result(steps, () => steps.map((s) => `${s.vm}: ${s.how} snapshot ${s.name} in ${s.seconds.toFixed(2)} s`).join('\n'));
}

export async function snapshots(ctx: TaskContext): Promise<void> {
  const t = await snapshotTarget(ctx, ctx.args[0]);
  const notes = new Map<string, string>();
  const list = await withRuntime(t.lab, async (parents) => {
    const all: SnapshotInfo[] = [];
    for (const p of t.places) {
      try {
        all.push(...(await listSnapshots(await openSite(t.lab, p, parents))));
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
    const tree = renderSnapshotTree(
      t.lab.name,
      t.places.map((p) => ({ name: p.vm.name, parent: p.parent?.name, note: notes.get(p.vm.name) })),
      list,
    );
    return `${table}\n\n${tree}`;
  });
}

const reasonOf = (err: unknown) => (err instanceof TaskError && err.hint ? `${err.message} (${err.hint})` : (err as Error).message);

/** Restoring replaces the current state: only with --yes, --keep-current, or a yes at a terminal. */
async function confirmRestore(ctx: TaskContext, what: string): Promise<void> {
  if (ctx.opts['keep-current'] === true) return;
  await confirmLoss(ctx, `restoring ${what} replaces its current state`, 'pass --yes, or --keep-current to snapshot the current state first');
}

export async function restore(ctx: TaskContext): Promise<void> {
  const [targetName, name] = ctx.args;
  if (!name) throw new UsageError('restore needs a snapshot NAME', `list them: npx tsx tasks.ts snapshots ${targetName ?? 'VM'}`);
  const t = await snapshotTarget(ctx, targetName);
  const steps = await withLabLock(
    t.lab.name,
    'restore',
    () =>
      withRuntime(t.lab, async (parents) => {
        const sites = await checkAllHave(t.lab, t.places, parents, name, t.wholeLab);
        // Restoring a suspended lab's disks would leave a saved state that no longer matches them.
        await releaseSavedFor(ctx, t.lab, `restoring ${name}`, { vms: t.places.map((p) => p.vm.name), remove: false });
        await confirmRestore(ctx, `${t.wholeLab ? `lab ${t.lab.name}` : sites[0]!.place.vm.name} to ${name}`);
        if (ctx.opts['keep-current'] === true) {
          const kept = await saveAll(
            t.lab,
            sites.map((s) => s.place),
            parents,
            { info: () => undefined, warn: ctx.out.warn },
          );
          ctx.out.info(`current state kept as ${kept[0]?.name} on ${kept.map((k) => k.vm).join(', ')}`);
        }
        return restoreAll(t.lab, t.places, parents, ctx.out, name);
      }),
    { say: ctx.out.info },
  );
  ctx.out.result(steps, () =>
    steps.map((s) => `${s.vm}: ${s.how === 'skipped' ? `skipped (${s.note})` : `${s.how} restore of ${s.name} in ${s.seconds.toFixed(2)} s`}`).join('\n'),
  );
}

export async function snapshotRm(ctx: TaskContext): Promise<void> {
  const [targetName, name] = ctx.args;
  if (!name) throw new UsageError('snapshot-rm needs a snapshot NAME', `list them: npx tsx tasks.ts snapshots ${targetName ?? 'VM'}`);
  const t = await snapshotTarget(ctx, targetName);
  const steps = await withLabLock(t.lab.name, 'snapshot-rm', () => withRuntime(t.lab, (parents) => removeAll(t.lab, t.places, parents, name)), {
    say: ctx.out.info,
  });
  ctx.out.result(steps, () => steps.map((s) => `${s.vm}: removed ${s.name} (${s.how})`).join('\n'));
}
