// Suspending a VM whose RAM is a file: its devices alone are saved (qemu/migrate.ts), beside
// the RAM file, and its QEMU quits — ~0.1 s where a snapshot writes every touched page.
import { kitPaths } from '../util/paths.ts';
import { readState } from '../machine/record.ts';
import { devicesFile } from '../machine/machine.ts';
import { offersIgnoreShared, saveDevices } from '../qemu/migrate.ts';
import { mapsRamFromFile } from '../qemu/args.ts';
import type { Site } from './site.ts';

/** Its RAM is in a file (it booted so) and its QEMU can leave shared RAM out of a migration (probed). */
export async function savesByDevices(s: Site): Promise<boolean> {
  if (!s.machine.ramInFile || s.status.state !== 'running') return false;
  if (!mapsRamFromFile(readState(kitPaths(s.lab.name, s.place.vm.name).vm)?.argv ?? [])) return false;
  const q = await s.qmp(3000);
  try {
    return await offersIgnoreShared(q);
  } catch {
    return false;
  } finally {
    q.close();
  }
}

/** Saves the devices beside the RAM file, then QEMU quits; a save that fails leaves the VM running. */
export async function saveByDevices(s: Site): Promise<'devices'> {
  const file = devicesFile(s.ref);
  const q = await s.qmp(5000);
  try {
    await saveDevices(q, `${file}.tmp`);
    // Whole or not at all: a save cut short leaves no file that looks like a saved state.
    await s.machine.run(['mv', `${file}.tmp`, file]);
    await q.execute('quit', undefined, 3000).catch(() => undefined); // QEMU drops the socket as it quits
  } finally {
    q.close();
  }
  return 'devices';
}
