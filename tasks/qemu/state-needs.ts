// What a saved VM state needs of the QEMU that loads it.  A state names neither its machine
// type nor its CPU: QEMU loads it into whatever the command line builds, and `-machine q35`
// builds the newest q35 of whichever QEMU runs (pc-q35-7.2 under 7.2, pc-q35-10.0 under 10.0),
// `-cpu max` whatever that version's accelerator offers.  So the state's record keeps what the
// running QEMU resolved them to (read over QMP at the save, as libvirt pins the versioned
// type at define time), and a resume is refused before anything starts where this QEMU has
// no such machine type or CPU model.
import type { QmpClient } from './qmp.ts';

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
