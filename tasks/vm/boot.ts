// Booting a VM of a lab with what the kit builds: the one boot path of the kit, fed by the
// inputs that make the kit's images, cloud images and disks ready on the VM's machine.
import { bootOn, type BootOptions, type BootResult } from './boot-on.ts';
import type { Machine } from '../machine/machine.ts';
import { specWarnings } from '../spec/checks.ts';
import type { LabResolved, VmPlace } from '../spec/tree.ts';
import { prepareInputs } from './inputs.ts';

export type { BootOptions, BootResult };

export const bootVm = (machine: Machine, lab: LabResolved, place: VmPlace, opts: BootOptions = {}): Promise<BootResult> => {
  // What the spec may say but should not (a forward on every interface) is said again as this VM starts.
  for (const w of specWarnings(lab)) if (w.path.startsWith(`${place.path}.`)) opts.warn?.(`${w.path}: ${w.message}`);
  return bootOn(machine, lab, place, prepareInputs, opts);
};
