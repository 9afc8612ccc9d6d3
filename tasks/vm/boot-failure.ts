// A boot that failed: what the user is told (the stage, the time, the serial console's tail,
// QEMU's stderr), the QEMU it started stopped unless --keep, and the VM's record saying why;
// a boot whose parent was lost says so, so `up` may boot that parent again.
import { TaskError, ParentLost, QemuRefused } from '../util/errors.ts';
import { kitPaths } from '../util/paths.ts';
import type { LabResolved, VmPlace } from '../spec/tree.ts';
import { updateState, writeState } from '../machine/record.ts';
import type { Machine, QemuRef } from '../machine/machine.ts';
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
  const [serial, stderr] = lost
    ? ['', '']
    : await Promise.all([machine.tail(ref.paths.serial, 20).catch(() => ''), machine.tail(ref.paths.stderr, 20).catch(() => '')]);
  if (!lost && !opts.keepOnFailure && pid) await stopQemu(machine, ref, pid, { graceful: false }).catch(() => undefined);
  // A QEMU that refused to start left no record yet: write one, so `status` says why.
  const record = kitPaths(lab.name, place.vm.name).vm;
  const failed = { phase: 'failed' as const, failure: lost ?? message, pid: opts.keepOnFailure && !lost ? pid : undefined };
  if (!updateState(record, failed)) writeState(record, { lab: lab.name, vm: place.vm.name, ...failed });
  if (lost)
    return new ParentLost(`${lab.name}/${place.vm.name} failed to boot${machine.at} after ${elapsed} s: ${lost}`, machine.inside!, lostHint(lab.name), err);
  if (err instanceof QemuRefused) return err;
  const at = machine.at;
  const stage = (err as { stage?: string }).stage;
  return new TaskError(
    `${lab.name}/${place.vm.name} failed to boot${at} after ${elapsed} s${stage ? `, at ${stage}` : ''}: ${message}\n  serial console (last 20 lines):\n${indent(serial || '(empty)')}${stderr ? `\n  QEMU stderr:\n${indent(stderr)}` : ''}${opts.keepOnFailure ? '' : '\n  (QEMU was stopped; pass --keep to leave it running)'}`,
    { hint, cause: err },
  );
}

export const lostHint = (lab: string) =>
  `its parent must boot again (a cold boot loses nothing a panicked kernel had not lost): npx tsx tasks.ts down ${lab} --force, then up ${lab}`;

const indent = (t: string) =>
  t
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
