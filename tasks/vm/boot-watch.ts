// What a boot checks between tries of its stages, each on its own clock, so a boot that
// cannot succeed fails at once instead of waiting out its time: the parent it runs in lost,
// QEMU gone, a kernel panic on the serial console, a QMP status that means the guest is dead.
import type { QmpStatus } from '../qemu/qmp.ts';
import { FatalError } from '../util/errors.ts';
import { throttled } from '../util/retry.ts';
import { withQmp } from '../machine/machine.ts';
import { consolePanic } from '../machine/kernel-panic.ts';
import { MachineLost } from '../util/errors.ts';
import type { BootOptions } from './boot-on.ts';
import type { BootRun } from './boot-run.ts';
import { failIfDead } from './boot-stages.ts';
import { GuestPanicked } from '../util/errors.ts';
import { lostHint } from './boot-failure.ts';

export function bootWatch(run: BootRun, opts: BootOptions): () => Promise<void> {
  const { machine, ref, lab } = run;
  const vm = run.place.vm;
  const at = machine.at;
  // Between tries: is QEMU still there, and is the guest alive by QMP's account?  QMP is
  // asked at most once a second (each command takes QEMU's big lock and stalls the vCPUs),
  // and a slow machine's liveness too (each check forks on the CPU the guest boots on).
  // The serial console is read for a kernel panic every 2 s (5 s inside a parent: one exec each).
  const askLost = throttled(5000, async () => {
    const gone = await machine.lost?.().catch(() => undefined);
    if (gone) throw new MachineLost(`${gone}, and ${vm.name} with it`, lostHint(lab.name));
  });
  const checkAlive = throttled(machine.slow ? 1000 : 0, async () => {
    if (!(await machine.sample(ref, { pid: run.pid })).alive) throw new FatalError(`QEMU exited during boot${at}`, run.kvmHint);
  });
  const checkSerial = throttled(machine.slow ? 5000 : 2000, async () => {
    const panic = await consolePanic(machine, ref, 30);
    if (panic)
      throw new GuestPanicked(
        `its kernel panicked during boot: ${panic}`,
        machine.inside && run.accel === 'kvm'
          ? `a nested guest can panic at random when its parent's KVM is itself emulated (a parent on TCG); boot it again: npx tsx tasks.ts boot ${vm.name}`
          : 'see the serial log below',
      );
  });
  const checkQmp = throttled(1000, async () => {
    const s = await withQmp(machine, ref, 1000, (q) => q.execute<QmpStatus>('query-status', undefined, 1000)).catch(() => undefined);
    if (s) failIfDead(run, s.status);
  });
  return async () => {
    if (opts.signal?.aborted) throw new FatalError('interrupted', 'the QEMU this boot started is being stopped');
    // Asked first and on its own clock: once the parent is gone, every call into it below
    // would wait for its SSH session to time out.
    if (machine.lost) await askLost();
    if (!run.pid) return;
    await checkAlive();
    await checkSerial();
    if (run.metrics.qmpS !== undefined) await checkQmp();
  };
}
