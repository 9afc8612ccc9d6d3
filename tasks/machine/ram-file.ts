// A top-level VM's RAM as files, where its machine maps RAM from a file (Machine.ramFileFor):
// while it runs, a file in memory (a tmpfs: runningRamFile) shared with QEMU; while it is
// suspended, the touched pages of that file copied (sparse) into the VM's folder on disk
// (savedRamFile), beside its saved devices.  In memory while running, because a file on a
// disk is written back as the guest touches it (measured: a cold `up demo` 31–34 s against
// 28–30 s, 430–640 MiB written); on disk while suspended, because a suspended lab holds no
// memory of the host.
import { posix } from 'node:path';
import { runningRamFile, VM_FILES } from '../util/paths.ts';
import { savedRamFile } from '../qemu/args.ts';
import type { Machine, QemuRef } from './machine.ts';

/** Where a suspended VM's devices are saved, beside its saved RAM. */
export const devicesFile = (ref: QemuRef) => posix.join(ref.paths.dir, VM_FILES.devices);

/** Where a suspended VM's RAM is kept, in its folder. */
export const savedRam = (ref: QemuRef) => savedRamFile({ vm: ref.paths });

/** Removes a VM's RAM files and saved devices there: its RAM means nothing once its QEMU is gone unsaved. */
export async function forgetRam(machine: Machine, ref: QemuRef): Promise<void> {
  if (machine.ramFileFor) await machine.run(['rm', '-f', runningRamFile(ref.paths.dir), savedRam(ref), devicesFile(ref)]);
}

/**
 * Removes the in-memory RAM of a VM whose QEMU has ended — `running`, the file its argv
 * mapped, else where this machine would keep it — unless that is its saved RAM.
 */
export async function dropRunningRam(machine: Machine, ref: QemuRef, running?: string): Promise<void> {
  const file = running ?? (machine.ramFileFor ? runningRamFile(ref.paths.dir) : undefined);
  if (file && file !== savedRam(ref)) await machine.run(['rm', '-f', file]);
}

/**
 * Copies a RAM file's touched pages (a sparse copy: cp reads only the data of a tmpfs file and
 * leaves zero pages out; measured 0.25 s for 410 MiB into the page cache), whole or not at
 * all: the copy is renamed over `to` only when it is complete.
 */
export async function copyRam(machine: Machine, from: string, to: string): Promise<void> {
  const part = `${to}.part`;
  try {
    await machine.run(['cp', '--sparse=always', from, part], 120_000);
    await machine.run(['mv', '-f', part, to]);
  } catch (err) {
    await machine.run(['rm', '-f', part]).catch(() => undefined);
    throw err;
  }
}
