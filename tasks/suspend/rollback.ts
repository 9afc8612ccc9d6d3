// What a failed resume or golden start puts back: the lab's records as they were, and the
// saved state of a VM whose guest already ran on from it, saved again the same way.
import { withRuntime } from '../vm/runtime.ts';
import { topMachine } from '../machine/machine-for.ts';
import { forgetRam } from '../machine/ram-file.ts';
import { walkVms, type LabResolved, type VmPlace } from '../spec/tree.ts';
import { readState, removeState, writeState } from '../machine/record.ts';
import { vmStatus } from '../vm/status.ts';
import { saveAll } from '../snapshot/many.ts';
import { recordOf } from './saved.ts';
import type { Top } from './resume.ts';

/**
 * Saves again, as they were saved, those of `tops` whose guest ran after loading its state
 * (a managed save is gone once loaded; a RAM file has moved on with the guest).  A QEMU that
 * never got as far as running its guest is only stopped: its saved state is as it was.
 */
export async function saveAgain(lab: LabResolved, tops: Top[], warn?: (m: string) => void): Promise<void> {
  const running: VmPlace[] = [];
  for (const { place, devices } of tops) {
    const s = await vmStatus(await topMachine(lab, place), lab, place);
    if (s.state === 'running' && (!devices || s.qmpStatus === 'running')) running.push(place);
  }
  if (!running.length) return;
  const quiet = { info: () => undefined, warn: warn ?? (() => undefined) };
  await withRuntime(lab, (parents) => saveAll(lab, running, parents, quiet, undefined, { managed: true, devices: true })).catch(async (err: Error) => {
    warn?.(
      `${running.map((p) => p.vm.name).join(', ')} could not be saved again after the failed start (${err.message.split('\n')[0]}); its saved state is lost`,
    );
    // A RAM file the guest moved on with must not be resumed against the old devices.
    for (const t of tops)
      if (t.devices && running.includes(t.place)) {
        const machine = await topMachine(lab, t.place);
        await forgetRam(machine, machine.ref(lab, t.place));
      }
  });
}

/** Every VM record of the lab as it is now, and what puts them back so (a VM that had none gets none). */
export function recordsAsNow(lab: LabResolved): () => void {
  const now = [...walkVms(lab.vms)].map((place) => ({ paths: recordOf(lab, place), record: readState(recordOf(lab, place)) }));
  return () => {
    for (const { paths, record } of now) record ? writeState(paths, record) : removeState(paths);
  };
}
