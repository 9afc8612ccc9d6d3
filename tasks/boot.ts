// `boot VM`: launch one VM and wait until SSH works; `stop VM`: power it off.
import { withLabLock } from './kit/lab-lock.ts';
import type { TaskContext } from './kit/registry.ts';
import { connectPlace, vmTarget, type VmTarget } from './kit/target.ts';
import { stopNested } from './kit/nested.ts';
import { findVm } from './kit/resolve.ts';
import { bootVm } from './kit/launch.ts';
import { stopHostVm } from './kit/shutdown.ts';
import { liveStatus } from './kit/vm-state.ts';
import { UsageError } from './kit/errors.ts';
import { spinner } from './kit/spinner.ts';

function seconds(ctx: TaskContext, opt: string): number | undefined {
  const v = ctx.opts[opt];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${opt} takes a number of seconds, got ${JSON.stringify(v)}`);
  return n;
}

export async function boot(ctx: TaskContext): Promise<void> {
  const t = await vmTarget(ctx, ctx.args[0]!);
  const r = await withLabLock(t.lab.name, `boot ${t.place.vm.name}`, () => bootVm(t.lab, t.place, { quiet: ctx.quiet, timeoutS: seconds(ctx, 'timeout'), keepOnFailure: ctx.opts.keep === true, fresh: ctx.opts.fresh === true, warn: ctx.out.warn }), { say: ctx.out.info });
  const ssh = r.forwards.find((f) => f.guest === 22);
  ctx.out.result(r, () =>
    [
      `${r.vm} is up (pid ${r.pid}, accel ${r.accel}${ssh ? `, ssh ${ssh.bind}:${ssh.host}` : ''})`,
      `  ${r.uname}`,
      `  QMP ${r.metrics.qmpS ?? '?'} s · port ${r.metrics.portS ?? '?'} s · banner ${r.metrics.bannerS ?? '?'} s · SSH ${r.metrics.sshS ?? '?'} s after launch`,
    ].join('\n'),
  );
}

export async function stop(ctx: TaskContext): Promise<void> {
  const t = await vmTarget(ctx, ctx.args[0]!);
  return withLabLock(t.lab.name, `stop ${t.place.vm.name}`, () => stopLocked(ctx, t), { say: ctx.out.info });
}

async function stopLocked(ctx: TaskContext, t: VmTarget): Promise<void> {
  const vm = t.place.vm;
  if (t.place.depth > 1) return stopChild(ctx, t);
  const before = await liveStatus(t.paths.vm, { lab: t.lab.name, name: vm.name, depth: t.place.depth });
  const spin = before.state === 'running' || before.state === 'booting' ? await spinner(`${vm.name}: stopping…`, ctx.quiet || ctx.json) : undefined;
  const how = await stopHostVm(t.paths.vm, { graceful: ctx.opts.force !== true, powerdownS: seconds(ctx, 'timeout') }).catch((err) => {
    spin?.fail(`${vm.name}: stop failed`);
    throw err;
  });
  spin?.succeed(`${vm.name}: stopped (${how})`);
  const result = { lab: t.lab.name, vm: vm.name, was: before.state, how };
  ctx.out.result(result, () => (how === 'already-stopped' ? `${vm.name} was not running${before.state === 'crashed' ? ' (crashed; cleaned up)' : ''}` : `${vm.name}: ${how}`));
}

/** A nested VM: stopped through its parent; if the parent is down, so is the child. */
async function stopChild(ctx: TaskContext, t: VmTarget): Promise<void> {
  const parent = await connectPlace(t.lab, findVm(t.lab, t.place.parent!.name)!).catch(() => undefined);
  try {
    const how = await stopNested(t.lab, t.place, parent, { graceful: ctx.opts.force !== true, powerdownS: seconds(ctx, 'timeout') });
    ctx.out.result({ lab: t.lab.name, vm: t.place.vm.name, parent: t.place.parent!.name, how }, () => `${t.place.vm.name}: ${how}`);
  } finally {
    parent?.close();
  }
}
