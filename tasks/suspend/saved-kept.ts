// Before a resume starts anything: every top-level VM's saved state is still where it was
// saved, and this host can load it; a refusal leaves the lab suspended and says what to do.
import { withRuntime } from '../vm/runtime.ts';
import { TaskError, UsageError } from '../util/errors.ts';
import { topMachine } from '../machine/machine-for.ts';
import { devicesFile, savedRam } from '../machine/ram-file.ts';
import { hostMachine } from '../machine/host.ts';
import type { LabResolved } from '../spec/tree.ts';
import { openSite } from '../snapshot/site.ts';
import { listSnapshots } from '../snapshot/ops.ts';
import type { suspendedPlaces } from './saved.ts';
import type { Machine } from '../machine/machine.ts';
import { useLabQemu } from '../qemu/which.ts';
import { crossVersionProblem, missingNeed, parseCpuHelp, parseMachineHelp } from '../qemu/state-needs.ts';

/** The machine types and CPU models the QEMU of `machine` offers (two short runs of it). */
async function offered(machine: Machine): Promise<{ machines: Set<string>; cpus: Set<string> }> {
  const qemu = (await machine.probe()).qemu ?? 'qemu-system-x86_64';
  const [machines, cpus] = await Promise.all([machine.run([qemu, '-machine', 'help'], 20_000), machine.run([qemu, '-cpu', 'help'], 20_000)]);
  return { machines: parseMachineHelp(machines), cpus: parseCpuHelp(cpus) };
}

/** Throws, naming the VM and a way on, where a saved state is gone or written by another QEMU. */
export async function checkSavedKept(lab: LabResolved, suspended: ReturnType<typeof suspendedPlaces>): Promise<void> {
  // The lab's QEMU (host.qemu), asked before any of its machines is.
  useLabQemu(lab.host.qemu);
  const qemuVersion = (await hostMachine.probe()).qemuVersion;
  const cold = `boot it cold instead: npx tsx tasks.ts up ${lab.name} --cold (the saved state is kept as a snapshot)`;
  const coldDiscarding = `boot it cold instead: npx tsx tasks.ts up ${lab.name} --cold (the saved state is discarded)`;
  const olderQemu = (version: string | undefined) =>
    `resume it under the QEMU that saved it${version ? ` (${version})` : ''}: host.qemu in the spec, or GRAINCHART_QEMU; or ${coldDiscarding.replace('boot it cold instead: ', 'boot it cold: ')}`;
  for (const { place, saved } of suspended) {
    if (saved.managed) {
      const machine = await topMachine(lab, place);
      if (!(await machine.managedSave?.has(machine.ref(lab, place))))
        throw new TaskError(`${place.vm.name}'s managed save is no longer kept ${machine.where}`, {
          hint: `boot it cold: npx tsx tasks.ts up ${lab.name} --cold`,
        });
      continue;
    }
    // The QEMU that wrote the state has what it needs: asked only of another (two runs of it).
    const another = !saved.qemuVersion || !qemuVersion || saved.qemuVersion !== qemuVersion;
    if (another && (saved.machineType || saved.cpuModel)) {
      const missing = missingNeed(saved, await offered(await topMachine(lab, place)));
      if (missing)
        throw new UsageError(
          `${place.vm.name}'s saved state needs ${missing}, which QEMU ${saved.qemuVersion ?? '(version not recorded)'} ran; the QEMU here${qemuVersion ? ` (${qemuVersion})` : ''} has none`,
          saved.devices ? olderQemu(saved.qemuVersion) : cold,
        );
    }
    const moveProblem = crossVersionProblem(saved, qemuVersion);
    if (moveProblem)
      throw new UsageError(
        `${place.vm.name}'s saved state was written by QEMU ${saved.qemuVersion} and the QEMU here is ${qemuVersion}: ${moveProblem}`,
        saved.devices ? olderQemu(saved.qemuVersion) : cold,
      );
    if (saved.devices) {
      const machine = await topMachine(lab, place);
      const ref = machine.ref(lab, place);
      const [devices, ram] = await Promise.all([machine.fileSize(devicesFile(ref)), machine.fileSize(savedRam(ref))]);
      if (devices === undefined || ram === undefined)
        throw new TaskError(`${place.vm.name}'s saved ${devices === undefined ? 'devices' : 'RAM file'} is no longer kept ${machine.where}`, {
          hint: coldDiscarding,
        });
      continue;
    }
    const names = await withRuntime(lab, async (parents) => (await listSnapshots(await openSite(lab, place, parents))).map((x) => x.name));
    if (!names.includes(saved.snapshot)) throw new TaskError(`${place.vm.name}'s saved state ${saved.snapshot} is no longer on its disk`, { hint: cold });
  }
}
