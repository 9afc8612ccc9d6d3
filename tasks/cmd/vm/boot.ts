// tasks/cmd/vm/: the tasks that act on one VM (boot, stop, install, disk, exec and friends,
// explain, libvirt-xml, nix-config).
//
// `boot VM`: launch one VM on its machine (this host, or inside its running parent) and
// wait until SSH works; `stop VM`: power it off, at any layer.
import { withLabLock } from '../../lab/lock.ts';
import type { TaskContext } from '../../cli/registry.ts';
import { vmTarget, type VmTarget } from '../../vm/target.ts';
import { bootVm } from '../../vm/boot.ts';
import { stopVm } from '../../vm/stop.ts';
import { vmStatus } from '../../vm/status.ts';
import { LabRuntime, withRuntime } from '../../vm/runtime.ts';
import type { Machine } from '../../machine/machine.ts';
import { UsageError } from '../../util/errors.ts';
import { spinner } from '../../cli/spinner.ts';
import { releaseSavedFor } from '../../suspend/guard.ts';

function seconds(ctx: TaskContext, opt: string): number | undefined {
  const v = ctx.opts[opt];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${opt} takes a number of seconds, got ${JSON.stringify(v)}`);
  return n;
}

export async function boot(ctx: TaskContext): Promise<void> {
  const t = await vmTarget(ctx, ctx.args[0]!);
  const { at, booted: r } = await withLabLock(
    t.lab.name,
    `boot ${t.place.vm.name}`,
    async () => {
      // Booting a suspended VM cold leaves its saved state behind (its snapshot stays on the disk, unless --fresh replaces the disk).
      await releaseSavedFor(ctx, t.lab, `booting ${t.place.vm.name}${ctx.opts.fresh === true ? ' --fresh' : ' cold'}`, {
        vms: [t.place.vm.name],
        remove: false,
      });
      return onMachine(t, async (machine) => ({
        at: machine.at,
        booted: await bootVm(machine, t.lab, t.place, {
          quiet: ctx.quiet,
          timeoutS: seconds(ctx, 'timeout'),
          keepOnFailure: ctx.opts.keep === true,
          fresh: ctx.opts.fresh === true,
          warn: ctx.out.warn,
        }),
      }));
    },
    { say: ctx.out.info },
  );
  const ssh = r.forwards.find((f) => f.guest === 22);
  ctx.out.result(r, () =>
    [
      `${r.vm} is up${at} (pid ${r.pid}, accel ${r.accel}${ssh ? `, ssh ${ssh.bind}:${ssh.host}` : ''})`,
      `  ${r.uname}`,
      `  QMP ${r.metrics.qmpS ?? '?'} s · port ${r.metrics.portS ?? '?'} s · banner ${r.metrics.bannerS ?? '?'} s · SSH ${r.metrics.sshS ?? '?'} s after launch`,
    ].join('\n'),
  );
}

/**
 * Runs `f` with the machine the VM's QEMU runs on (a nested VM's parent must be running),
 * closing the parent's session after.
 */
async function onMachine<T>(t: VmTarget, f: (m: Machine) => Promise<T>): Promise<T> {
  return withRuntime(t.lab, async (rt) => f(await rt.machine(t.place)));
}

export async function stop(ctx: TaskContext): Promise<void> {
  const t = await vmTarget(ctx, ctx.args[0]!);
  return withLabLock(
    t.lab.name,
    `stop ${t.place.vm.name}`,
    async () => {
      await releaseSavedFor(ctx, t.lab, `stopping ${t.place.vm.name}`, { vms: [t.place.vm.name], remove: true });
      return stopLocked(ctx, t);
    },
    { say: ctx.out.info },
  );
}

/** Any layer: a nested VM is stopped inside its parent; if the parent is down, so is the child. */
async function stopLocked(ctx: TaskContext, t: VmTarget): Promise<void> {
  const vm = t.place.vm;
  const rt = new LabRuntime(t.lab);
  try {
    const machine = await rt.machineOrNone(t.place);
    const before = await vmStatus(machine, t.lab, t.place);
    const spin = before.state === 'running' || before.state === 'booting' ? await spinner(`${vm.name}: stopping…`, ctx.quiet || ctx.json) : undefined;
    const how = await stopVm(machine, t.lab, t.place, { graceful: ctx.opts.force !== true, powerdownS: seconds(ctx, 'timeout') }).catch((err) => {
      spin?.fail(`${vm.name}: stop failed`);
      throw err;
    });
    spin?.succeed(`${vm.name}: stopped (${how})`);
    const result = { lab: t.lab.name, vm: vm.name, ...(t.place.parent ? { parent: t.place.parent.name } : {}), was: before.state, how };
    ctx.out.result(result, () =>
      how === 'already-stopped' ? `${vm.name} was not running${before.state === 'crashed' ? ' (crashed; cleaned up)' : ''}` : `${vm.name}: ${how}`,
    );
  } finally {
    rt.close();
  }
}
