// Suspending a VM whose RAM is a file: its devices alone are saved (qemu/migrate.ts), the RAM
// file's touched pages copied beside them in its folder (machine/ram-file.ts), and its QEMU
// quits — ~0.1 s and a copy in memory where a snapshot writes every touched page.
import { kitPaths } from '../util/paths.ts';
import { readState } from '../machine/record.ts';
import { copyRam, devicesFile, dropRunningRam, savedRam } from '../machine/ram-file.ts';
import { offersIgnoreShared, runOn, saveDevices } from '../qemu/migrate.ts';
import { ramFileOf } from '../qemu/args.ts';
import type { Site } from './site.ts';

const runningRam = (s: Site) => ramFileOf(readState(kitPaths(s.lab.name, s.place.vm.name).vm)?.argv ?? []);

/** Its RAM is in a file (it booted so) and its QEMU can leave shared RAM out of a migration (probed). */
export async function savesByDevices(s: Site): Promise<boolean> {
  if (!s.machine.ramFileFor || s.status.state !== 'running' || !runningRam(s)) return false;
  const q = await s.qmp(3000);
  try {
    return await offersIgnoreShared(q);
  } catch {
    return false;
  } finally {
    q.close();
  }
}

/**
 * Saves the devices and the RAM beside each other, then QEMU quits and its in-memory RAM goes.
 * Whole or not at all: the devices file, which marks a saved state, is renamed into place
 * last; a save that fails leaves the VM running.
 */
export async function saveByDevices(s: Site): Promise<'devices'> {
  const file = devicesFile(s.ref);
  const ram = runningRam(s)!;
  const q = await s.qmp(5000);
  try {
    await saveDevices(q, `${file}.tmp`);
    try {
      // The guest is stopped: its RAM no longer changes while it is copied.
      if (ram !== savedRam(s.ref)) await copyRam(s.machine, ram, savedRam(s.ref));
      await s.machine.run(['mv', `${file}.tmp`, file]);
    } catch (err) {
      await s.machine.run(['rm', '-f', `${file}.tmp`]).catch(() => undefined);
      await runOn(q).catch(() => undefined);
      throw err;
    }
    await q.execute('quit', undefined, 3000).catch(() => undefined); // QEMU drops the socket as it quits
  } finally {
    q.close();
  }
  await dropRunningRam(s.machine, s.ref, ram);
  return 'devices';
}
