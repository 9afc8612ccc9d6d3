// What a saved state needs of a QEMU, read from `-machine help` and `-cpu help` as QEMU 7.2 and 10.0 print them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { missingNeed, parseCpuHelp, parseMachineHelp } from '../../tasks/qemu/state-needs.ts';

const machineHelp = `Supported machines are:
microvm              microvm (i386)
pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)
pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)
q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)
pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)
pc-q35-2.4           Standard PC (Q35 + ICH9, 2009) (deprecated)
none                 empty machine
`;
const cpuHelp = `Available CPUs:
x86 486                   (alias configured by machine type)
x86 Skylake-Client-v4     Intel Core Processor (Skylake, IBRS, no TSX)
x86 host                  processor with all supported host features
x86 max                   Enables all features supported by the accelerator in the current host

Recognized CPUID flags:
  3dnow 3dnowext 3dnowprefetch abm ace2 ace2-en acpi adx aes
`;

// QEMU 10.0.2 (Debian's bookworm-backports): no "x86" before the names.
const cpuHelp10 = `Available CPUs:
  486                   (alias configured by machine type)
  486-v1                
  EPYC-v4               AMD EPYC-v4 Processor
  max                   Enables all features supported by the accelerator in the current host

Recognized CPUID flags:
  3dnow 3dnowext 3dnowprefetch abm ace2 ace2-en acpi adx aes amd-no-ssb
`;

describe('state needs', () => {
  it('lists every machine type, aliases and deprecated ones included, and no header', () => {
    assert.deepEqual([...parseMachineHelp(machineHelp)], ['microvm', 'pc', 'pc-i440fx-7.2', 'q35', 'pc-q35-7.2', 'pc-q35-2.4', 'none']);
  });

  it('lists the CPU models, not the CPUID flags', () => {
    const cpus = parseCpuHelp(cpuHelp);
    assert.deepEqual([...cpus], ['486', 'Skylake-Client-v4', 'host', 'max']);
    assert.ok(!cpus.has('3dnow'));
    const ten = parseCpuHelp(cpuHelp10);
    assert.deepEqual([...ten], ['486', '486-v1', 'EPYC-v4', 'max']);
    assert.ok(!ten.has('3dnow') && !ten.has('Recognized'));
  });

  it('names what a QEMU lacks, the machine type first; nothing when it has all, or nothing was recorded', () => {
    const offered = { machines: parseMachineHelp(machineHelp), cpus: parseCpuHelp(cpuHelp) };
    assert.equal(missingNeed({ machineType: 'pc-q35-7.2', cpuModel: 'max' }, offered), undefined);
    assert.equal(missingNeed({}, offered), undefined);
    assert.equal(missingNeed({ machineType: 'pc-q35-10.0', cpuModel: 'EPYC-v9' }, offered), 'machine type pc-q35-10.0');
    assert.equal(missingNeed({ machineType: 'pc-q35-7.2', cpuModel: 'EPYC-v9' }, offered), 'CPU model EPYC-v9');
  });
});
