// A VM's machine type pinned at its first boot (q35 → pc-q35-7.2), and which saved states move
// between QEMU versions: to a newer QEMU on the pinned type, never to an older one with -cpu max.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersions, isQ35, machineToRun, machineTypeIn, parseMachineAliases, versionedMachine } from '../../tasks/qemu/machine-type.ts';
import { crossVersionProblem } from '../../tasks/qemu/state-needs.ts';
import { domainXml } from '../../tasks/machine/libvirt/xml.ts';
import { qemuPlan } from '../../tasks/qemu/args.ts';
import { resolveLab } from '../../tasks/spec/resolve.ts';
import { BIG_HOST, KVM_PVM } from '../helpers/probes.ts';
import { vmPaths } from '../../tasks/util/paths.ts';

const help72 = `Supported machines are:
pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)
pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)
q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)
pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)
none                 empty machine
`;
const help10 = help72.replaceAll('7.2', '10.0');

describe('the machine type pinned at the first boot', () => {
  it('reads what each alias stands for in this QEMU', () => {
    assert.deepEqual(
      [...parseMachineAliases(help72)],
      [
        ['pc', 'pc-i440fx-7.2'],
        ['q35', 'pc-q35-7.2'],
      ],
    );
    assert.equal(versionedMachine('q35', help10), 'pc-q35-10.0');
    assert.equal(versionedMachine('microvm', help10), 'microvm', 'no alias: itself');
  });

  it('a first boot resolves the spec’s type; later boots keep the pin; a fresh disk or another asked type resolves again', async () => {
    let asked = 0;
    const help = (out: string) => async () => {
      asked++;
      return out;
    };
    assert.deepEqual(await machineToRun('q35', { fresh: false, help: help(help72) }), { asked: 'q35', type: 'pc-q35-7.2' });
    const pin = { asked: 'q35', type: 'pc-q35-7.2' };
    assert.deepEqual(await machineToRun('q35', { pin, fresh: false, help: help(help10) }), pin, 'kept under a newer QEMU');
    assert.equal(asked, 1);
    assert.deepEqual(await machineToRun('q35', { pin, fresh: true, help: help(help10) }), { asked: 'q35', type: 'pc-q35-10.0' });
    assert.deepEqual(await machineToRun('pc', { pin, fresh: false, help: help(help10) }), { asked: 'pc', type: 'pc-i440fx-10.0' });
    assert.deepEqual(await machineToRun('pc-q35-8.2', { fresh: false, help: help(help10) }), { asked: 'pc-q35-8.2', type: 'pc-q35-8.2' });
    assert.equal(asked, 3, 'a versioned type is not asked about');
    // A resume runs what was saved, pinned or not (a state saved before the kit pinned).
    const saved = ['qemu-system-x86_64', '-name', 'v', '-machine', 'type=q35,accel=tcg', '-cpu', 'max'];
    assert.deepEqual(await machineToRun('q35', { pin, savedArgv: saved, fresh: false, help: help(help10) }), { asked: 'q35', type: 'q35' });
    // The QEMU could not be asked: the spec's type as it is.
    assert.deepEqual(await machineToRun('q35', { fresh: false, help: () => Promise.reject(new Error('no')) }), { asked: 'q35', type: 'q35' });
  });

  it('reads the type a command line runs, either way QEMU takes it', () => {
    assert.equal(machineTypeIn(['-machine', 'type=pc-q35-7.2,accel=tcg']), 'pc-q35-7.2');
    assert.equal(machineTypeIn(['-machine', 'accel=tcg,type=q35']), 'q35');
    assert.equal(machineTypeIn(['-machine', 'q35,accel=kvm']), 'q35');
    assert.equal(machineTypeIn(['-machine', 'accel=tcg']), undefined);
    assert.equal(machineTypeIn(['-m', '512']), undefined);
  });

  it('a pinned q35 is still q35: PCIe root bus in the libvirt domain, and said so in the plan', async () => {
    assert.ok(isQ35('q35') && isQ35('pc-q35-7.2') && !isQ35('pc') && !isQ35('pc-i440fx-7.2'));
    const lab = resolveLab({ name: 'p', vms: [{ name: 'v', boot: { kernel: '/k', initrd: '/i' }, vga: 'none' }] }, BIG_HOST, 't');
    const plan = qemuPlan({ ...lab.vms[0]!, machine: 'pc-q35-7.2' }, KVM_PVM, { home: '/home/u', vm: vmPaths('/var/lib/gc', 'p', 'v') });
    const machine = plan.find((s) => s.section === 'machine')!;
    assert.equal(machine.args[1], 'type=pc-q35-7.2,accel=tcg');
    assert.match(machine.note, /^Q35 \(pc-q35-7\.2, pinned at its first boot\)/);
    const xml = domainXml(plan, { lab: 'p', emulator: '/usr/bin/qemu-system-x86_64' });
    assert.match(xml, /machine='pc-q35-7\.2'/);
    assert.match(xml, /bus=pcie\.0/);
  });
});

describe('a saved state under another QEMU', () => {
  const pinned = ['qemu-system-x86_64', '-name', 'v', '-machine', 'type=pc-q35-7.2,accel=tcg', '-cpu', 'max'];
  it('compares versions as numbers', () => {
    assert.ok(compareVersions('7.2.22', '10.0.2') < 0);
    assert.ok(compareVersions('10.0.2', '10.0.0') > 0);
    assert.equal(compareVersions('8.2.2', '8.2.2'), 0);
  });

  it('moves to a newer QEMU on its pinned type; to an older one only with a named CPU model', () => {
    assert.equal(crossVersionProblem({ qemuVersion: '7.2.22', cpuModel: 'max', argv: pinned }, '7.2.22'), undefined, 'the same QEMU');
    assert.equal(crossVersionProblem({ qemuVersion: '7.2.22', cpuModel: 'max', argv: pinned }, '10.0.2'), undefined, 'upgraded');
    assert.match(
      crossVersionProblem({ qemuVersion: '10.0.2', cpuModel: 'max', argv: pinned }, '7.2.22')!,
      /CPU model max offers the guest features of QEMU 10\.0\.2 that the older QEMU 7\.2\.22 may lack/,
    );
    assert.match(crossVersionProblem({ qemuVersion: '10.0.2', argv: pinned }, '7.2.22')!, /CPU model max/, 'the model read from the command line');
    assert.equal(crossVersionProblem({ qemuVersion: '10.0.2', cpuModel: 'EPYC-v4', argv: pinned }, '7.2.22'), undefined);
  });

  it('a state saved on the unpinned q35 stays with its QEMU', () => {
    const unpinned = ['qemu-system-x86_64', '-machine', 'type=q35,accel=tcg', '-cpu', 'max'];
    assert.match(
      crossVersionProblem({ qemuVersion: '7.2.22', argv: unpinned }, '10.0.2')!,
      /it ran machine type q35, which QEMU 10\.0\.2 builds as another machine/,
    );
    assert.equal(crossVersionProblem({ argv: unpinned }, '10.0.2'), undefined, 'no version recorded: the other checks decide');
  });
});
