// A boot that failed: what the user is told (the stage, the time, the serial console's tail,
// QEMU's stderr), the QEMU it started stopped unless --keep, and the VM's record saying why;
// a boot whose parent was lost says so, so `up` may boot that parent again.
import { GuestPanicked, TaskError, ParentLost, QemuRefused, TimedOut, lastLines } from '../util/errors.ts';
import { kitPaths } from '../util/paths.ts';
import type { LabResolved, VmPlace } from '../spec/tree.ts';
import { updateState, writeState } from '../machine/record.ts';
import { withQmp, type Machine, type QemuRef } from '../machine/machine.ts';
import type { QmpClient } from '../qemu/qmp.ts';
import { MachineLost } from '../util/errors.ts';
import type { BootOptions } from './boot-on.ts';
import { stopQemu } from './stop.ts';

export async function failBoot(
  machine: Machine,
  lab: LabResolved,
  place: VmPlace,
  ref: QemuRef,
  pid: number,
  err: unknown,
  started: number,
  opts: BootOptions,
): Promise<TaskError> {
  const elapsed = ((Date.now() - started) / 1000).toFixed(1);
  const message = err instanceof Error ? err.message : String(err);
  const hint = (err as { hint?: string }).hint;
  // A boot that failed for another reason first (an SSH session that timed out) may have lost
  // its parent too, or the parent stopped answering: the deeper question, asked once here.
  const lost =
    err instanceof MachineLost
      ? message
      : await machine.lost?.({ answering: true }).then(
          (gone) => gone && `${gone}, and ${place.vm.name} with it`,
          () => undefined,
        );
  // Inside a lost parent nothing is left to read or stop: the guest's QEMU ran in the one that is gone.
  const stage = (err as { stage?: string }).stage;
  // A QEMU inside a guest that ended during boot: that guest's kernel may have killed it (out
  // of memory, a KVM fault), and only its log says so (seen: a child gone in 14 s, no stderr).
  const ended = machine.inside !== undefined && /^QEMU exited during boot/.test(message);
  const [serial, stderr, vcpus, kernelLog] = lost
    ? ['', '', '', '']
    : await Promise.all([
        machine.tail(ref.paths.serial, 20).catch(() => ''),
        machine.tail(ref.paths.stderr, 20).catch(() => ''),
        // A wait that ran out, or a stage that failed, on a QEMU still up: what its vCPUs were doing, before it is stopped.
        (err instanceof TimedOut || stage) && pid ? vcpuStates(machine, ref) : '',
        ended
          ? machine.run(['dmesg']).then(
              (log) => lastLines(log, 12),
              () => '',
            )
          : '',
      ]);
  if (!lost && !opts.keepOnFailure && pid) await stopQemu(machine, ref, pid, { graceful: false }).catch(() => undefined);
  // A QEMU that refused to start left no record yet: write one, so `status` says why.
  const record = kitPaths(lab.name, place.vm.name).vm;
  const failed = { phase: 'failed' as const, failure: lost ?? message, pid: opts.keepOnFailure && !lost ? pid : undefined };
  if (!updateState(record, failed)) writeState(record, { lab: lab.name, vm: place.vm.name, ...failed });
  if (lost)
    return new ParentLost(`${lab.name}/${place.vm.name} failed to boot${machine.at} after ${elapsed} s: ${lost}`, machine.inside!, lostHint(lab.name), err);
  if (err instanceof QemuRefused) return err;
  const at = machine.at;
  return new TaskError(
    `${lab.name}/${place.vm.name} failed to boot${at} after ${elapsed} s${stage ? `, at ${stage}` : ''}: ${message}\n  serial console (last 20 lines):\n${indent(serial || '(empty)')}${stderr ? `\n  QEMU stderr:\n${indent(stderr)}` : ''}${vcpus ? `\n  vCPUs (QEMU's info cpus, registers and local APICs):\n${indent(vcpus)}` : ''}${kernelLog ? `\n  ${machine.inside}'s kernel log (dmesg, last 12 lines):\n${indent(kernelLog)}` : ''}${opts.keepOnFailure ? '' : '\n  (QEMU was stopped; pass --keep to leave it running)'}`,
    { hint, cause: err },
  );
}

/**
 * Each vCPU of a QEMU whose boot gave up: halted or not, and the interrupts its local APIC
 * holds (HMP through QMP).  A TCG parent that stops answering (emulated SVM, QEMU 7.2) was
 * seen with CPU 0 halted and an interrupt pending that never woke it: this puts that in the
 * report CI shows.  Empty when QMP does not answer within a few seconds (a wedged parent).
 */
async function vcpuStates(machine: Machine, ref: QemuRef): Promise<string> {
  const ask = (c: QmpClient, line: string, cpu?: number) =>
    c.execute<string>('human-monitor-command', { 'command-line': line, ...(cpu === undefined ? {} : { 'cpu-index': cpu }) }, 3000);
  const read = withQmp(machine, ref, 3000, async (c) => {
    const out: string[] = [];
    for (const line of (await ask(c, 'info cpus')).split('\n').filter((l) => /CPU #\d+/.test(l))) {
      const cpu = Number(/CPU #(\d+)/.exec(line)![1]);
      const [regs, lapic] = [await ask(c, 'info registers', cpu).catch(() => ''), await ask(c, 'info lapic', cpu).catch(() => '')];
      out.push(vcpuLine(line, regs, lapic));
    }
    return out.join('\n');
  });
  const late = new Promise<string>((done) => setTimeout(done, 8000, '').unref());
  return Promise.race([read.catch(() => ''), late]);
}

/**
 * One vCPU's line: `info cpus`' own; from `info registers`, where it is (RIP) and whether it
 * is halted (HLT=1); from `info lapic`, its pending (IRR) and in-service (ISR) vectors.
 */
export function vcpuLine(infoCpu: string, regs: string, lapic: string): string {
  const apicReg = (name: string) => new RegExp(`^${name}\\s+(.*)$`, 'm').exec(lapic)?.[1]?.trim();
  const rip = /\bRIP=([0-9a-f]+)/.exec(regs)?.[1];
  const hlt = /\bHLT=(\d)/.exec(regs)?.[1];
  const irr = apicReg('IRR');
  const isr = apicReg('ISR');
  return [
    infoCpu.replace(/^[*\s]+/, '').trim(),
    rip && `RIP ${rip}`,
    hlt && (hlt === '1' ? 'halted' : 'running'),
    (irr !== undefined || isr !== undefined) && `IRR ${irr ?? '?'} · ISR ${isr ?? '?'}`,
  ]
    .filter(Boolean)
    .join(' · ');
}

/**
 * Why a failed cold boot is worth one more, or undefined.  A resume (-loadvm, -incoming) is
 * never booted again: that would drop its saved state; nor is one kept for debugging, one
 * whose parent was lost (the parent must boot again first), or one under a --timeout the user
 * set (a hard limit).
 * - A kernel panic: under TCG's emulated SVM (QEMU 7.2, this host's only way to nest) a
 *   nested Debian kernel can take a page fault in its interrupt entry and panic at a random
 *   point of its boot ("Fatal exception in interrupt"); a second boot of the same disk comes up.
 * - A wait that ran out with QEMU up: a guest under TCG that never reached SSH, with nothing
 *   wrong in its disk or spec (seen in CI, a few in 600 tests: a tiny guest's first boot, a
 *   libvirt guest's cold boot after `down`); the same boot in a loop came up 30 times of 30.
 */
export function bootAgainFor(err: unknown, opts: BootOptions): { reason: string; detail?: string } | undefined {
  if (opts.loadvm || opts.incoming || opts.keepOnFailure || opts.signal?.aborted || err instanceof ParentLost) return undefined;
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof GuestPanicked) return { reason: cause.message };
  if (!(cause instanceof TimedOut) || opts.timeoutS !== undefined || !(err instanceof Error)) return undefined;
  const [head, ...detail] = err.message.split('\n').filter((l) => !/\(QEMU was stopped; pass --keep/.test(l));
  return { reason: head!, detail: detail.join('\n') };
}

export const lostHint = (lab: string) =>
  `its parent must boot again (a cold boot loses nothing a panicked kernel had not lost): npx tsx tasks.ts down ${lab} --force, then up ${lab}`;

const indent = (t: string) =>
  t
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
