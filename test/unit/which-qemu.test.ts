// Which QEMU a lab runs (qemu/which.ts) and what the kit asks of it: a QEMU unpacked from
// Debian's packages into a folder gets its own firmware (-L) and modules (QEMU_MODULE_DIR);
// TCG is what the binary lists, built in or a module; a saved state's -L folders are no device.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chosenQemu, qemuAt, qemuEnv, dataDirArgs } from '../../tasks/qemu/which.ts';
import { parseAccelHelp, type HostProbe } from '../../tasks/qemu/host-probe.ts';
import { doctorChecks } from '../../tasks/cmd/doctor.ts';
import { checkSameDevices } from '../../tasks/vm/boot-preflight.ts';
import { qemuPlan } from '../../tasks/qemu/args.ts';
import { resolveLab } from '../../tasks/spec/resolve.ts';
import { BIG_HOST, KVM_PVM } from '../helpers/probes.ts';

let dir = '';
const tool = (path: string) => {
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, 0o755);
};
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gc-which-'));
  // An unpacked Debian tree: binaries, firmware (qemu's and seabios'), modules.
  for (const d of ['q10/usr/bin', 'q10/usr/share/qemu', 'q10/usr/share/seabios', 'q10/usr/lib/x86_64-linux-gnu/qemu', 'own/bin', 'alone/usr/bin'])
    mkdirSync(join(dir, d), { recursive: true });
  tool(join(dir, 'q10/usr/bin/qemu-system-x86_64'));
  tool(join(dir, 'q10/usr/bin/qemu-img'));
  tool(join(dir, 'own/bin/qemu-system-x86_64'));
  tool(join(dir, 'alone/usr/bin/qemu-system-x86_64'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('which QEMU', () => {
  it('a QEMU unpacked into a folder: its qemu-img, firmware folders and modules', () => {
    const q = qemuAt(join(dir, 'q10/usr/bin/qemu-system-x86_64'), 'GRAINCHART_QEMU');
    assert.equal(q.img, join(dir, 'q10/usr/bin/qemu-img'));
    assert.deepEqual(q.dataDirs, [join(dir, 'q10/usr/share/qemu'), join(dir, 'q10/usr/share/seabios')]);
    assert.equal(q.moduleDir, join(dir, 'q10/usr/lib/x86_64-linux-gnu/qemu'));
    assert.deepEqual(dataDirArgs(q), ['-L', join(dir, 'q10/usr/share/qemu'), '-L', join(dir, 'q10/usr/share/seabios')]);
    assert.equal(qemuEnv(q, {}).QEMU_MODULE_DIR, q.moduleDir);
  });

  it('a QEMU built with its own prefix, or a lone binary, is run as it is; qemu-img from PATH when none is beside it', () => {
    const own = qemuAt(join(dir, 'own/bin/qemu-system-x86_64'), 'host.qemu');
    assert.deepEqual([own.dataDirs, own.moduleDir], [[], undefined]);
    assert.deepEqual(qemuEnv(own, { A: '1' }), { A: '1' });
    const alone = qemuAt(join(dir, 'alone/usr/bin/qemu-system-x86_64'), 'host.qemu');
    assert.deepEqual(alone.dataDirs, []);
    assert.notEqual(alone.img, join(dir, 'alone/usr/bin/qemu-img'));
  });

  it('the spec’s host.qemu, else GRAINCHART_QEMU, else PATH', () => {
    const spec = join(dir, 'own/bin/qemu-system-x86_64');
    const env = join(dir, 'q10/usr/bin/qemu-system-x86_64');
    assert.deepEqual([chosenQemu(spec, { GRAINCHART_QEMU: env }).system, chosenQemu(spec, {}).from], [spec, 'host.qemu']);
    assert.deepEqual([chosenQemu(undefined, { GRAINCHART_QEMU: env }).system, chosenQemu(undefined, { GRAINCHART_QEMU: env }).from], [env, 'GRAINCHART_QEMU']);
    const path = chosenQemu(undefined, { PATH: join(dir, 'own/bin') });
    assert.equal(path.from, 'PATH');
  });
});

describe('what the binary says of itself', () => {
  it('reads -accel help: a built-in TCG (QEMU 10) or a module (Debian’s 7.2) alike', () => {
    assert.deepEqual(parseAccelHelp('Accelerators supported in QEMU binary:\ntcg\nkvm\n'), ['tcg', 'kvm']);
    assert.deepEqual(parseAccelHelp('Accelerators supported in QEMU binary:\nkvm\n'), ['kvm']);
  });

  const probe = (accels: string[] | undefined, from: 'PATH' | 'GRAINCHART_QEMU' = 'PATH'): HostProbe => ({
    cpus: 2,
    memoryMiB: 24000,
    freeMemoryMiB: 20000,
    freeDiskBytes: 50 * 2 ** 30,
    qemu: { path: '/q/qemu-system-x86_64', version: '10.0.2' },
    qemuImg: { path: '/q/qemu-img', version: '10.0.2' },
    install: { system: '/q/qemu-system-x86_64', img: '/q/qemu-img', from, dataDirs: [] },
    accels,
    kvmFacts: { devKvm: 'present', cpuFlags: { vmx: false, svm: true }, modules: ['kvm', 'kvm_pvm'] },
    kvm: KVM_PVM,
  });
  const tcg = (p: HostProbe) => doctorChecks(p).find((c) => c.name === 'tcg');

  it('doctor: TCG passes when the binary lists it, fails when it does not, warns when it cannot be asked', () => {
    assert.equal(tcg(probe(['tcg', 'kvm']))?.status, 'OK');
    assert.match(tcg(probe(['tcg'], 'GRAINCHART_QEMU'))?.detail ?? '', /GRAINCHART_QEMU's QEMU lists tcg/);
    assert.equal(tcg(probe(['kvm']))?.status, 'FAIL');
    assert.equal(tcg(probe(undefined))?.status, 'WARN');
  });
});

describe('a QEMU unpacked into a folder, on the command line', () => {
  const vm = resolveLab({ name: 'l', vms: [{ name: 'v', boot: { image: 'tiny' } }] }, BIG_HOST, 't').vms[0]!;
  const paths = {
    home: '/h',
    vm: { dir: '/s/l/v', qmp: '/s/l/v/qmp.sock', pid: '/s/l/v/pid', serial: '/s/l/v/serial.log', stderr: '/s/l/v/stderr.log' },
    images: { tiny: { kernel: '/img/vmlinuz', initrd: '/img/initrd.img', initrdDisk: '/img/initrd-disk.img' } },
  };

  it('its firmware folders come first (-L), and only for it', () => {
    const plan = qemuPlan(vm, KVM_PVM, { ...paths, dataDirs: ['/q/usr/share/qemu', '/q/usr/share/seabios'] });
    assert.deepEqual(plan.find((s) => s.section === 'data')?.args, ['-L', '/q/usr/share/qemu', '-L', '/q/usr/share/seabios']);
    assert.equal(plan[1]?.section, 'data');
    assert.equal(
      qemuPlan(vm, KVM_PVM, paths).find((s) => s.section === 'data'),
      undefined,
    );
  });

  it('a saved state loads whichever folders QEMU looks for firmware in, but not into other devices', () => {
    const argv = ['-name', 'v', '-machine', 'type=q35', '-m', '512'];
    assert.doesNotThrow(() => checkSameDevices('v', argv, ['-name', 'v', '-L', '/q/usr/share/qemu', '-machine', 'type=q35', '-m', '512']));
    assert.throws(() => checkSameDevices('v', argv, ['-name', 'v', '-L', '/q', '-machine', 'type=q35', '-m', '1024']), /argument 6 was "512", now "1024"/);
  });
});
