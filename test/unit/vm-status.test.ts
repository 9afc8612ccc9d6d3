// Crash classification, one function for every layer: the host's record, one sample from
// the VM's machine, and QEMU's own word.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyStatus, type StatusFacts } from '../../tasks/vm/status.ts';
import type { QemuSample } from '../../tasks/machine/machine.ts';
import type { VmState } from '../../tasks/machine/record.ts';

const base = { lab: 'l', name: 'c', parent: 'p', depth: 2 };
const rec = (phase: VmState['phase'], extra: Partial<VmState> = {}): VmState => ({ lab: 'l', vm: 'c', phase, pid: 50, accel: 'kvm', ...extra });
const live: QemuSample = { pid: 50, pidfile: true, alive: true, uptimeS: 12, disks: {} };
const gone: QemuSample = { pid: 50, pidfile: false, alive: false, disks: {} };
const at = (f: Partial<StatusFacts>) => classifyStatus(base, { where: 'inside p', ...f });

describe('classifyStatus', () => {
  it('running: a live QEMU whose QMP says running, with its uptime', () => {
    const s = at({ record: rec('running'), sample: live, qmp: { status: 'running' } });
    assert.deepEqual([s.state, s.pid, s.uptimeS, s.qmpStatus, s.reason], ['running', 50, 12, 'running', undefined]);
  });
  it('booting while the record says so, even when QMP does not answer yet', () => {
    assert.equal(at({ record: rec('booting'), sample: live, qmp: { error: 'refused' } }).state, 'booting');
  });
  it('running with the reason when QMP does not answer after the boot', () => {
    const s = at({ record: rec('running'), sample: live, qmp: { error: 'no answer within 1500 ms' } });
    assert.deepEqual([s.state, s.reason], ['running', 'QMP did not answer: no answer within 1500 ms']);
  });
  it('crashed when QEMU reports a dead guest', () => {
    for (const q of ['internal-error', 'guest-panicked', 'shutdown']) {
      const s = at({ record: rec('running'), sample: live, qmp: { status: q } });
      assert.deepEqual([s.state, s.reason], ['crashed', `QEMU reports ${q}`]);
    }
  });
  it('crashed when the record claims a QEMU its machine no longer has, naming where', () => {
    assert.equal(at({ record: rec('running'), sample: gone }).reason, 'its QEMU (pid 50) is gone inside p but was never stopped');
    assert.equal(classifyStatus(base, { record: rec('running'), sample: gone, where: '' }).reason, 'its QEMU (pid 50) is gone but was never stopped');
  });
  it('suspended: a saved top-level VM, and a child inside its saved parent; running again once its QEMU runs', () => {
    const top = classifyStatus(
      { ...base, parent: undefined, depth: 1 },
      { where: '', record: rec('suspended', { pid: undefined, saved: { snapshot: 's1', at: '2026-11-29T12:00:00Z', argv: [] } }), sample: gone },
    );
    assert.deepEqual([top.state, top.reason], ['suspended', 'saved as s1 at 2026-11-29T12:00:00Z']);
    const child = at({ record: rec('suspended') });
    assert.deepEqual([child.state, child.reason], ['suspended', 'inside p, saved with it']);
    assert.equal(at({ record: rec('suspended'), sample: live, qmp: { status: 'running' } }).state, 'running');
    const sized = classifyStatus(
      { ...base, parent: undefined, depth: 1 },
      {
        where: '',
        record: rec('suspended', { pid: undefined, saved: { snapshot: 's1', devices: true, at: '2026-11-29T12:00:00Z', argv: [], bytes: 412 * 2 ** 20 } }),
        sample: gone,
      },
    );
    assert.deepEqual([sized.reason, sized.savedBytes], ['its devices and RAM saved in its folder at 2026-11-29T12:00:00Z, 412 MiB on disk', 412 * 2 ** 20]);
  });
  it('crashed on a stale pidfile, stopped on a clean stop, with a failed boot’s reason', () => {
    assert.equal(at({ record: rec('stopped'), sample: { ...gone, pidfile: true } }).state, 'crashed');
    assert.deepEqual([at({ record: rec('stopped'), sample: gone }).state, at({ record: rec('stopped'), sample: gone }).reason], ['stopped', undefined]);
    assert.equal(at({ record: rec('failed', { failure: 'timed out' }), sample: gone }).reason, 'timed out');
    assert.equal(at({ sample: gone }).state, 'stopped');
  });
  it('without its machine: crashed when it claimed to run (its parent is down), else stopped', () => {
    const s = at({ record: rec('running'), parentState: 'stopped' });
    assert.deepEqual([s.state, s.reason], ['crashed', 'its parent p is stopped']);
    assert.equal(at({ record: rec('stopped') }).state, 'stopped');
  });
});

import { renderStatus } from '../../tasks/chart/status-table.ts';

describe('renderStatus', () => {
  it('adds libvirt’s own word under the table for a VM on libvirt, whatever its state', () => {
    const row = { lab: 'l', name: 'a', depth: 1, forwards: [] };
    const text = renderStatus(
      [
        { ...row, state: 'running', domstate: 'running (booted)' },
        { ...row, name: 'b', state: 'stopped', reason: 'boot failed', domstate: 'shut off (destroyed)' },
        { ...row, name: 'c', state: 'stopped' },
      ],
      { width: 100, ascii: false, color: false },
    );
    assert.deepEqual(text.split('\n').slice(-3), ['  a: libvirt says running (booted)', '  b: boot failed', '  b: libvirt says shut off (destroyed)']);
  });
});
