// tasks/cmd/lab/: the tasks that act on a whole lab (up, down, status, charts, snapshots,
// suspend, smoke, doc, demo, spec).
//
// Whole labs: `up LAB` (lab/up.ts), `down LAB` (lab/down.ts), `nest PARENT CHILD`, and
// `ssh-config LAB` for plain OpenSSH (lab/ssh-config.ts).
import { withRuntime } from '../../vm/runtime.ts';
import { upLab, type UpStep } from '../../lab/up.ts';
import { downLab, forgetLab } from '../../lab/down.ts';
import { sshConfig } from '../../lab/ssh-config.ts';
import type { TaskContext } from '../../cli/registry.ts';
import { loadLab } from '../../spec/load.ts';
import type { LabResolved } from '../../spec/tree.ts';
import { bootVm } from '../../vm/boot.ts';
import { vmTarget } from '../../vm/target.ts';
import { UsageError } from '../../util/errors.ts';
import { withLabLock } from '../../lab/lock.ts';
import { labStatus } from '../../lab/status.ts';
import { renderStatus } from '../../chart/status-table.ts';
import { releaseSaved, suspendedPlaces } from '../../suspend/saved.ts';
import { resumeLab, startFrom } from '../../suspend/resume.ts';
import { releaseSavedFor } from '../../suspend/guard.ts';
import { snapshotNameOption } from '../../snapshot/names.ts';
import { keepAgent } from '../../agent/client.ts';

export async function up(ctx: TaskContext): Promise<number | void> {
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  if (snapshotNameOption(ctx.opts, 'from') !== undefined && ctx.opts.cold === true)
    throw new UsageError('--from and --cold ask for different starts; pick one');
  const code = await withLabLock(lab.name, 'up', () => upLocked(ctx, lab), { say: ctx.out.info });
  keepAgent(lab.name, ctx.spec);
  return code;
}

/**
 * Before the cold boots: a suspended lab resumes (or, with --cold, boots cold and keeps its
 * saved state as a snapshot); --from starts the stopped lab from a lab-wide snapshot.
 */
async function startSaved(ctx: TaskContext, lab: LabResolved): Promise<void> {
  const from = ctx.opts.from as string | undefined;
  const saved = suspendedPlaces(lab).map((s) => s.saved.snapshot);
  const report = (r: Awaited<ReturnType<typeof resumeLab>>, how: string) => {
    for (const s of r.steps) ctx.out.event({ event: how, lab: lab.name, vm: s.vm, snapshot: s.snapshot, seconds: s.seconds });
    for (const l of r.layers) ctx.out.info(`${l.vm}: answers at ${l.readyS.toFixed(1)} s, clock set (was ${l.clockBehindS} s behind)`);
  };
  if (from) {
    await releaseSavedFor(ctx, lab, `up --from ${from}`, { remove: !saved.includes(from) });
    return report(await startFrom(lab, from, { quiet: ctx.quiet, warn: ctx.out.warn, info: ctx.out.info }), 'started-from');
  }
  if (!saved.length) return;
  if (ctx.opts.cold === true) {
    // A managed save, or saved devices with their RAM file, cannot stay as a snapshot: booting cold discards them, so that is asked first.
    const released = suspendedPlaces(lab).some((s) => s.saved.managed || s.saved.devices)
      ? await releaseSavedFor(ctx, lab, 'up --cold', { remove: false })
      : await releaseSaved(lab, false);
    const kept = [...new Set(released.filter((g) => !g.discarded).map((g) => g.snapshot))];
    if (kept.length)
      ctx.out.info(`${lab.name} boots cold; its saved state stays as snapshot ${kept.join(', ')} (restore ${lab.name} NAME, or up --from NAME, loads it)`);
    return;
  }
  ctx.out.info(`${lab.name} is suspended: resuming it (up --cold boots it cold instead)`);
  report(await resumeLab(lab, { quiet: ctx.quiet, warn: ctx.out.warn, info: ctx.out.info }), 'resumed');
}

/**
 * Ctrl-C during `up` stops what this run started — the VM booting stops at its next check
 * and its QEMU is stopped; VMs this run already booted go down; VMs that were running
 * before are left alone — and exits 130.  A second Ctrl-C leaves at once.
 */
async function upLocked(ctx: TaskContext, lab: LabResolved): Promise<number | void> {
  const t0 = Date.now();
  const abort = new AbortController();
  const started = new Set<string>();
  let sigints = 0;
  const onSigint = () => {
    if (++sigints > 1) process.exit(130);
    ctx.out.warn(`interrupted: stopping what this \`up\` started (Ctrl-C again to leave it)`);
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  let steps: UpStep[];
  await startSaved(ctx, lab);
  try {
    // --json: JSON Lines, a `step` record as each VM comes up, then one `done` record.
    steps = await upLab(lab, {
      quiet: ctx.quiet,
      warn: ctx.out.warn,
      signal: abort.signal,
      fresh: ctx.opts.fresh === true,
      onStep: (s) => {
        if (s.action === 'booted') started.add(s.vm);
        ctx.out.event({ event: 'step', lab: lab.name, ...s });
      },
    });
  } catch (err) {
    if (!abort.signal.aborted) throw err;
    const down = await downLab(lab, { force: true, only: started });
    ctx.out.event({ event: 'interrupted', lab: lab.name, stopped: down });
    ctx.out.info(`interrupted; stopped ${down.map((d) => d.vm).join(', ') || 'nothing else'}`);
    return 130;
  } finally {
    process.off('SIGINT', onSigint);
  }
  const rows = await labStatus(lab);
  const total = (Date.now() - t0) / 1000;
  if (ctx.json) return ctx.out.event({ event: 'done', lab: lab.name, seconds: total, steps, status: rows });
  ctx.out.result({ lab: lab.name, seconds: total, steps, status: rows }, () =>
    [
      ...steps.map((s) => `${s.vm}: ${s.action}${s.action === 'booted' ? ` in ${s.seconds.toFixed(1)} s (accel ${s.result?.accel})` : ''}`),
      `${lab.name} up in ${total.toFixed(1)} s`,
      '',
      renderStatus(rows),
    ].join('\n'),
  );
}

export async function down(ctx: TaskContext): Promise<void> {
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  const steps = await withLabLock(
    lab.name,
    'down',
    async () => {
      // A suspended lab runs nothing, but its saved state is a lab someone may want back.
      await releaseSavedFor(ctx, lab, 'down', { remove: true });
      const steps = await downLab(lab, { force: ctx.opts.force === true, onStep: (s) => ctx.out.event({ event: 'step', lab: lab.name, ...s }) });
      return ctx.opts.undefine === true ? [...steps, ...(await forgetLab(lab))] : steps;
    },
    { say: ctx.out.info },
  );
  if (ctx.json) return ctx.out.event({ event: 'done', lab: lab.name, steps });
  ctx.out.result({ lab: lab.name, steps }, () => steps.map((s) => `${s.vm}: ${s.how}`).join('\n'));
}

export async function nest(ctx: TaskContext): Promise<void> {
  const [parentName, childName] = ctx.args as [string, string];
  const t = await vmTarget(ctx, childName);
  if (t.place.parent?.name !== parentName)
    throw new UsageError(
      `${childName} is not a child of ${parentName} in lab ${t.lab.name}${t.place.parent ? ` (its parent is ${t.place.parent.name})` : ' (it runs on the host)'}`,
    );
  // The lab runtime's machine inside the parent: the parent is reached (or the error says why
  // not) and watched while the child boots, as `up` does.
  await withRuntime(t.lab, async (rt) => {
    const machine = await rt.machine(t.place);
    const r = await withLabLock(t.lab.name, `nest ${childName}`, () => bootVm(machine, t.lab, t.place, { quiet: ctx.quiet, warn: ctx.out.warn }), {
      say: ctx.out.info,
    });
    ctx.out.result(
      r,
      () =>
        `${r.vm} is up inside ${parentName} (pid ${r.pid} there, accel ${r.accel})\n  ${r.uname}\n  QMP ${r.metrics.qmpS} s · banner ${r.metrics.bannerS} s · SSH ${r.metrics.sshS} s after launch`,
    );
  });
}

export async function sshConfigTask(ctx: TaskContext): Promise<void> {
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  const text = sshConfig(lab);
  ctx.out.result({ lab: lab.name, config: text }, () => text.trimEnd());
}
