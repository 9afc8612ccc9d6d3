// How much disk a suspended VM's saved state takes, read once at the suspend (a suspended lab
// does not change): what `status`, `tree` and `chart-vm` show, and what a `down` gives back.
import { withRuntime } from '../vm/runtime.ts';
import { devicesFile, savedRam } from '../machine/ram-file.ts';
import type { Machine, QemuRef } from '../machine/machine.ts';
import type { LabResolved, VmPlace } from '../spec/tree.ts';
import { openSite } from '../snapshot/site.ts';
import { listSnapshots } from '../snapshot/ops.ts';

/**
 * Bytes on disk: the saved devices and the RAM's touched pages (du, not the RAM file's
 * apparent size), or the snapshot's VM state; undefined for a managed save (the machine's
 * own) or when it cannot be read — a size is shown, never guessed.
 */
export async function savedBytes(
  lab: LabResolved,
  place: VmPlace,
  machine: Machine,
  ref: QemuRef,
  save: { how: string; name: string },
): Promise<number | undefined> {
  try {
    if (save.how === 'devices') {
      const out = await machine.run(['du', '-B1', '-c', devicesFile(ref), savedRam(ref)]);
      const total = /^(\d+)\s+total$/m.exec(out);
      return total ? Number(total[1]) : undefined;
    }
    if (save.how === 'managed') return undefined;
    const list = await withRuntime(lab, async (parents) => listSnapshots(await openSite(lab, place, parents)));
    return list.find((s) => s.name === save.name)?.vmStateSize;
  } catch {
    return undefined;
  }
}
