// Stopping a QEMU we started: ask the guest (QMP system_powerdown → ACPI power button),
// wait a bounded time, then QMP quit, then SIGTERM and SIGKILL.  Signals go only to the
// pid in this VM's pidfile, and only while /proc says it is that VM's QEMU.
import type { VmPaths } from './paths.ts';
import { qmpOnce } from './qmp.ts';
import { cleanRuntimeFiles, isOurQemu, readPidfile, readState, updateState } from './vm-state.ts';

export type StopHow = 'powerdown' | 'quit' | 'sigterm' | 'sigkill' | 'already-stopped';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function gone(pid: number, p: VmPaths, withinMs: number): Promise<boolean> {
  const until = Date.now() + withinMs;
  while (Date.now() < until) {
    if (!isOurQemu(pid, p)) return true;
    await sleep(50);
  }
  return !isOurQemu(pid, p);
}

export async function stopQemu(p: VmPaths, pid: number | undefined, opts: { graceful: boolean; powerdownS?: number }): Promise<StopHow> {
  let how: StopHow = 'already-stopped';
  if (pid && isOurQemu(pid, p)) {
    how = await escalate(p, pid, opts);
  }
  cleanRuntimeFiles(p);
  return how;
}

/** Stops a VM on this host (its pid from the pidfile, else its state) and records it stopped. */
export async function stopHostVm(p: VmPaths, opts: { graceful: boolean; powerdownS?: number }): Promise<StopHow> {
  const how = await stopQemu(p, readPidfile(p) ?? readState(p)?.pid, opts);
  if (readState(p)) updateState(p, { phase: 'stopped', stoppedAt: new Date().toISOString(), pid: undefined });
  return how;
}

async function escalate(p: VmPaths, pid: number, opts: { graceful: boolean; powerdownS?: number }): Promise<StopHow> {
  if (opts.graceful) {
    const asked = await qmpOnce(p.qmp, 'system_powerdown', undefined, 2000).then(() => true, () => false);
    if (asked && (await gone(pid, p, (opts.powerdownS ?? 10) * 1000))) return 'powerdown';
  }
  await qmpOnce(p.qmp, 'quit', undefined, 2000).catch(() => undefined); // QEMU drops the socket as it quits
  if (await gone(pid, p, 3000)) return 'quit';
  if (!isOurQemu(pid, p)) return 'quit';
  process.kill(pid, 'SIGTERM');
  if (await gone(pid, p, 3000)) return 'sigterm';
  if (isOurQemu(pid, p)) process.kill(pid, 'SIGKILL');
  await gone(pid, p, 3000);
  return 'sigkill';
}
