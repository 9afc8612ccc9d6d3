// What a saved VM state needs of the QEMU that loads it.  A state names neither its machine
// type nor its CPU: QEMU loads it into whatever the command line builds, and `-machine q35`
// builds the newest q35 of whichever QEMU runs (pc-q35-7.2 under 7.2, pc-q35-10.0 under 10.0),
// `-cpu max` whatever that version's accelerator offers.  So the state's record keeps what the
// running QEMU resolved them to (read over QMP at the save), and a resume is refused before
// anything starts where this QEMU has no such machine type or CPU model, or where the state
// cannot move from the QEMU that wrote it to this one (crossVersionProblem).
import type { QmpClient } from './qmp.ts';
import { compareVersions, isVersioned, machineTypeIn } from './machine-type.ts';

export interface StateNeeds {
  /** The versioned machine type the VM ran, e.g. pc-q35-7.2. */
  machineType?: string;
  /** Its CPU model, e.g. max (which moves with QEMU's version) or Skylake-Client-v4 (which does not). */
  cpuModel?: string;
}

/** Read from the running QEMU: its machine's and first CPU's QOM types, without their suffixes. */
export async function readStateNeeds(q: QmpClient): Promise<StateNeeds> {
  const machine = await q.execute<string>('qom-get', { path: '/machine', property: 'type' });
  const cpus = await q.execute<Array<{ 'qom-path': string }>>('query-cpus-fast');
  const first = cpus[0]?.['qom-path'];
  const cpu = first ? await q.execute<string>('qom-get', { path: first, property: 'type' }) : undefined;
  return {
    ...(typeof machine === 'string' ? { machineType: machine.replace(/-machine$/, '') } : {}),
    ...(typeof cpu === 'string' ? { cpuModel: cpu.replace(/-x86_64-cpu$/, '') } : {}),
  };
}

/** The machine types `qemu-system-x86_64 -machine help` lists (aliases such as q35 included). */
export function parseMachineHelp(out: string): Set<string> {
  const names = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /^(\S+)\s{2,}\S/.exec(line);
    if (m && !line.startsWith('Supported machines')) names.add(m[1]!);
  }
  return names;
}

/**
 * The CPU models `qemu-system-x86_64 -cpu help` lists: QEMU 7.2 prints "x86 NAME  description",
 * QEMU 10 "  NAME  description" under "Available CPUs:"; the CPUID flags after the blank line
 * are not models.
 */
export function parseCpuHelp(out: string): Set<string> {
  const names = new Set<string>();
  let listing = false;
  for (const line of out.split('\n')) {
    if (line.startsWith('Available CPUs:')) listing = true;
    else if (!line.trim()) listing = false;
    const m = /^x86\s+(\S+)/.exec(line) ?? (listing ? /^\s+(\S+)/.exec(line) : null);
    if (m) names.add(m[1]!);
  }
  return names;
}

/** What this QEMU lacks of `needs` (a sentence), or undefined when it has all of it. */
export function missingNeed(needs: StateNeeds, offered: { machines: Set<string>; cpus: Set<string> }): string | undefined {
  if (needs.machineType && !offered.machines.has(needs.machineType)) return `machine type ${needs.machineType}`;
  if (needs.cpuModel && !offered.cpus.has(needs.cpuModel)) return `CPU model ${needs.cpuModel}`;
  return undefined;
}

/** CPU models whose features are whatever the running QEMU offers: they grow with its version. */
const MOVING_CPUS = new Set(['max', 'host']);

/**
 * Why a state saved under QEMU `saved.qemuVersion` cannot be loaded by QEMU `here` (a sentence),
 * or undefined when it can: the same version; or a newer one running the machine type the state
 * was saved on, pinned in its command line (machine-type.ts), with a CPU that does not lose
 * features on the way (max and host only gain them from one version to the next, so a state
 * moves up, never down; a named model moves both ways).  Measured: a tiny guest saved under
 * 7.2 with pc-q35-7.2 and `-cpu max` runs on under 10.0, and back.
 */
export function crossVersionProblem(saved: StateNeeds & { qemuVersion?: string; argv: readonly string[] }, here: string | undefined): string | undefined {
  if (!saved.qemuVersion || !here || saved.qemuVersion === here) return undefined;
  const ran = machineTypeIn(saved.argv);
  if (!ran || !isVersioned(ran))
    return `it ran machine type ${ran ?? '(default)'}, which QEMU ${here} builds as another machine (the kit pins a VM's machine type at its first boot since it records one; this state is older)`;
  const cpu = saved.cpuModel ?? saved.argv[saved.argv.indexOf('-cpu') + 1]?.split(',')[0];
  if (compareVersions(here, saved.qemuVersion) < 0 && cpu && MOVING_CPUS.has(cpu))
    return `its CPU model ${cpu} offers the guest features of QEMU ${saved.qemuVersion} that the older QEMU ${here} may lack: a state moves only to the same or a newer QEMU`;
  return undefined;
}
