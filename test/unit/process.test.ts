// "Is this pid this VM's QEMU": one rule for this host's /proc and a guest's, since a pid
// that is trusted wrongly gets a signal meant for a QEMU.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isQemuOf, uptimeOf } from '../../tasks/qemu/process.ts';

const stat = (state: string, startTicks = 1234) =>
  `190 (qemu-system-x86) ${state} 1 189 189 0 -1 4194624 ${Array.from({ length: 12 }, () => 0).join(' ')} ${startTicks} 1 2`;
const PIDFILE = '/var/lib/grainchart/vms/demo/l2/qemu.pid';
const qemuArgv = ['/usr/bin/qemu-system-x86_64', '-name', 'l2', '-pidfile', PIDFILE, ''];

describe('isQemuOf', () => {
  it('trusts a running QEMU started with this pidfile', () => {
    assert.equal(isQemuOf(qemuArgv, stat('S'), PIDFILE), true);
    assert.equal(isQemuOf(['qemu-system-x86_64', '-pidfile', PIDFILE], stat('R'), PIDFILE), true);
  });
  it('does not trust a zombie, another VM’s QEMU, or another program that names the pidfile', () => {
    assert.equal(isQemuOf(qemuArgv, stat('Z'), PIDFILE), false);
    assert.equal(isQemuOf(qemuArgv, stat('S'), '/var/lib/grainchart/vms/demo/l3/qemu.pid'), false);
    assert.equal(isQemuOf(['tail', '-f', PIDFILE], stat('S'), PIDFILE), false);
    assert.equal(isQemuOf(['sh', '-c', `cat ${PIDFILE}`, PIDFILE], stat('S'), PIDFILE), false);
    assert.equal(isQemuOf([], stat('S'), PIDFILE), false);
  });
});

describe('uptimeOf', () => {
  it('is the system’s uptime less the start time in 100 Hz ticks, and nothing for figures that do not add up', () => {
    assert.equal(uptimeOf(stat('S', 1234), 100.7)!.toFixed(2), '88.36');
    assert.equal(uptimeOf(stat('S', 1234), 12.34), 0);
    assert.equal(uptimeOf(stat('S', 1234), 5), undefined);
    assert.equal(uptimeOf('garbage', 100), undefined);
  });
});
