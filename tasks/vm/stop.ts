// Stopping a QEMU we started, on whatever machine it runs: ask the guest (QMP
// system_powerdown → ACPI power button), wait a bounded time, then QMP quit, then SIGTERM
// and SIGKILL.  Signals go only to the pid the machine confirms is that VM's QEMU.
import { kitPaths } from '../util/paths.ts';
import type { LabResolved, VmPlace } from '../spec/tree.ts';
import { readState, updateState } from '../machine/record.ts';
import { withQmp, type Machine, type QemuRef } from '../machine/machine.ts';
import { dropRunningRam, forgetRam } from '../machine/ram-file.ts';
import { poll } from '../util/retry.ts';

export type StopHow = 'powerdown' | 'quit' | 'sigterm' | 'sigkill' | 'already-stopped' | 'parent-down';

export interface StopOptions {
  /** Ask the guest to power off first (else straight to quit). */
  graceful: boolean;
  powerdownS?: number;
  /** Injectable clock for tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** The ladder for one QEMU: each rung is tried only while that pid is still ref's QEMU. */
export async function stopQemu(machine: Machine, ref: QemuRef, pid: number | undefined, opts: StopOptions): Promise<StopHow> {
  const alive = async () => !!pid && (await machine.sample(ref, { pid })).alive;
  // Whether it ended within the rung's time: running out is the answer that climbs a rung.
  // A guest machine's check forks in the parent: it is asked less often than /proc here.
  // A check that fails (the parent's session broke) fails the stop at once.
  const gone = (withinMs: number) =>
    poll(async () => !(await alive()), {
      what: `${ref.name}'s QEMU to end`,
      timeoutMs: withinMs,
      intervalMs: machine.slow ? 150 : 50,
      fatal: () => true,
      now: opts.now,
      sleep: opts.sleep,
    });
  const how = await (async (): Promise<StopHow> => {
    if (!pid || !(await alive())) return 'already-stopped';
    const qmp = (command: string) =>
      withQmp(machine, ref, 2000, (c) => c.execute(command, undefined, 2000)).then(
        () => true,
        () => false,
      );
    if (opts.graceful && (await qmp('system_powerdown')) && (await gone((opts.powerdownS ?? 10) * 1000))) return 'powerdown';
    await qmp('quit'); // QEMU drops the socket as it quits: no answer is no failure
    if (await gone(3000)) return 'quit';
    if (!(await machine.signal(ref, pid, 'SIGTERM'))) return 'quit';
    if (await gone(3000)) return 'sigterm';
    await machine.signal(ref, pid, 'SIGKILL');
    await gone(3000);
    return 'sigkill';
  })();
  await machine.cleanRuntime(ref);
  // Its RAM in memory means nothing once its QEMU has ended (a failed boot's, a killed one's).
  if (pid) await dropRunningRam(machine, ref).catch(() => undefined);
  return how;
}

/**
 * Stops a VM of the lab on its machine and records it stopped.  No machine: its parent is
 * down or cannot be reached, and a child's QEMU cannot outlive the VM it runs in.
 */
export async function stopVm(machine: Machine | undefined, lab: LabResolved, place: VmPlace, opts: StopOptions): Promise<StopHow> {
  const record = kitPaths(lab.name, place.vm.name).vm;
  const s = readState(record);
  const done = (how: StopHow) => {
    if (s) updateState(record, { phase: 'stopped', stoppedAt: new Date().toISOString(), pid: undefined });
    return how;
  };
  if (!machine) return done(s?.phase === 'running' || s?.phase === 'booting' ? 'parent-down' : 'already-stopped');
  const ref = machine.ref(lab, place, s);
  const pid = (await machine.sample(ref, { fallbackPid: s?.pid })).pid;
  const how = await stopQemu(machine, ref, pid, opts);
  // A stopped VM's RAM files (and a discarded saved state's devices) would only hold memory and disk space.
  await forgetRam(machine, ref);
  return done(how);
}
