import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { domainFigures, parseDomstats } from '../../tasks/machine/libvirt/domstats.ts';
import { kvmVerdict } from '../../tasks/machine/libvirt/connection.ts';

// Lines as libvirt 9.0's `virsh domstats --raw` printed them for a running tiny-nest domain.
const reading = (cpuS: number, v0S: number, v1S: number) =>
  parseDomstats(
    [
      "Domain: 'grainchart-lvx-x1'",
      '  state.state=1',
      `  cpu.time=${cpuS * 1e9}`,
      '  balloon.current=1572864',
      '  balloon.rss=813840',
      '  balloon.last-update=1795998637',
      '  vcpu.current=2',
      '  vcpu.maximum=2',
      `  vcpu.0.time=${v0S * 1e9}`,
      `  vcpu.1.time=${v1S * 1e9}`,
      '  net.count=0',
      '  block.count=2',
      '  block.0.name=vda',
      '  block.0.path=/var/lib/libvirt/images/grainchart/vms/lvx/x1/root.qcow2',
      '  block.0.rd.bytes=67003904',
      '  block.0.wr.bytes=18788352',
      '  block.0.allocation=1966080',
      '  block.0.capacity=4475322368',
      '  block.1.rd.bytes=1000',
      '  block.1.wr.bytes=0',
      '  dirtyrate.calc_mode=page-sampling',
      '',
    ].join('\n'),
  );

describe('parseDomstats', () => {
  it('keeps the numeric figures by key and leaves out names, paths and modes', () => {
    const r = reading(32.1, 16, 14);
    assert.equal(r['cpu.time'], 32.1e9);
    assert.equal(r['block.0.capacity'], 4475322368);
    assert.equal(r['block.0.name'], undefined);
    assert.equal(r['block.0.path'], undefined);
    assert.equal(r['dirtyrate.calc_mode'], undefined);
    assert.deepEqual(parseDomstats("Domain: 'x'\n"), {});
  });
});

describe('domainFigures', () => {
  it('turns two readings half a second apart into CPU %, each vCPU’s, RSS, balloon and block bytes', () => {
    const f = domainFigures(reading(32, 16, 14), reading(32.35, 16.25, 14.05), 0.5);
    assert.deepEqual(f, {
      cpuPercent: 70,
      cpuSeconds: 32.35,
      vcpuPercent: [50, 10],
      rssMiB: 795,
      balloonMiB: 1536,
      readBytes: 67004904,
      writtenBytes: 18788352,
    });
  });
  it('refuses a window it cannot measure: no time, a domain that restarted, figures missing', () => {
    assert.throws(() => domainFigures(reading(2, 1, 1), reading(3, 1, 1), 0), /no time passed/);
    assert.throws(() => domainFigures(reading(30, 1, 1), reading(2, 1, 1), 1), /restarted/);
    const { 'balloon.rss': _, ...noRss } = reading(3, 1, 1);
    assert.throws(() => domainFigures(reading(2, 1, 1), noRss, 1), /no balloon\.rss/);
  });
});

describe('kvmVerdict', () => {
  const usable = { state: 'usable', vendor: 'amd', nested: true, reason: 'kvm_amd' } as const;
  it('keeps KVM only when libvirt offers a kvm domain too', () => {
    assert.equal(kvmVerdict(usable, true, 'qemu:///system'), usable);
    const no = kvmVerdict(usable, false, 'qemu:///system');
    assert.equal(no.state, 'unusable');
    assert.match(no.reason, /libvirt at qemu:\/\/\/system offers no kvm domain/);
  });
  it('never turns the kit’s “unusable” into usable because libvirt offers kvm (kvm_pvm here)', () => {
    const pvm = { state: 'unusable', reason: 'kvm_pvm', hint: 'TCG' } as const;
    assert.equal(kvmVerdict(pvm, true, 'qemu:///system'), pvm);
  });
});
