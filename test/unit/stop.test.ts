// The stop ladder, written once for every machine, against a fake one: each rung is tried
// only while the pid is still that VM's QEMU, and the runtime files are cleaned after.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stopQemu, stopVm } from '../../tasks/vm/stop.ts';
import { resolveLab } from '../../tasks/spec/resolve.ts';
import { findVm } from '../../tasks/spec/tree.ts';
import { kitPaths } from '../../tasks/util/paths.ts';
import { readState, writeState } from '../../tasks/machine/record.ts';
import { FakeMachine, type FakeBehaviour } from '../helpers/fake-machine.ts';
import { suiteHome } from '../helpers/vm.ts';

/** A virtual clock: sleeping advances it at once, so a 10 s power-off wait takes no time. */
function clock() {
  let t = 0;
  return { now: () => t, sleep: async (ms: number) => void (t += ms), elapsed: () => t };
}

async function ladder(b: FakeBehaviour, graceful = true) {
  const m = new FakeMachine('/nowhere', b);
  m.alive = true;
  const c = clock();
  const how = await stopQemu(m, m.ref(null, { vm: { name: 'v' } }), m.pid, { graceful, powerdownS: 10, now: c.now, sleep: c.sleep });
  return { how, calls: m.calls, alive: m.alive, ms: c.elapsed() };
}

describe('stopQemu', () => {
  it('powers off through ACPI when the guest listens, and cleans the runtime files', async () => {
    const r = await ladder({ honoursPowerdown: true });
    assert.equal(r.how, 'powerdown');
    assert.deepEqual(r.calls, ['system_powerdown', 'clean']);
    assert.equal(r.alive, false);
  });
  it('waits the power-off time, then quits through QMP', async () => {
    const r = await ladder({ honoursQuit: true });
    assert.equal(r.how, 'quit');
    assert.deepEqual(r.calls, ['system_powerdown', 'quit', 'clean']);
    assert.ok(r.ms >= 10_000 && r.ms < 11_000, `waited ${r.ms} ms`);
  });
  it('skips the power-off when not graceful', async () => {
    const r = await ladder({ honoursPowerdown: true, honoursQuit: true }, false);
    assert.deepEqual({ how: r.how, calls: r.calls }, { how: 'quit', calls: ['quit', 'clean'] });
  });
  it('sends SIGTERM when QMP is dead, SIGKILL when TERM is ignored', async () => {
    assert.deepEqual((await ladder({ qmpDead: true }, false)).calls, ['SIGTERM', 'clean']);
    const r = await ladder({ qmpDead: true, survives: ['SIGTERM'] }, false);
    assert.deepEqual({ how: r.how, calls: r.calls, alive: r.alive }, { how: 'sigkill', calls: ['SIGTERM', 'SIGKILL', 'clean'], alive: false });
  });
  it('signals nothing when the QEMU is not running (or the pid is not its)', async () => {
    const m = new FakeMachine('/nowhere');
    const ref = m.ref(null, { vm: { name: 'v' } });
    assert.equal(await stopQemu(m, ref, m.pid, { graceful: true }), 'already-stopped');
    m.alive = true;
    assert.equal(await stopQemu(m, ref, 999, { graceful: true }), 'already-stopped');
    assert.equal(await stopQemu(m, ref, undefined, { graceful: true }), 'already-stopped');
    assert.deepEqual(m.calls, ['clean', 'clean', 'clean']);
    assert.equal(m.alive, true);
  });
});

describe('stopVm', () => {
  const h = suiteHome('gc-stop-');
  const lab = resolveLab(
    {
      name: 's',
      vms: [{ name: 'p', boot: { image: 'tiny-nest' }, memory: 1024, children: [{ name: 'c', boot: { image: 'tiny' }, network: { sshPort: 2222 } }] }],
    },
    { cpus: 2, memoryMiB: 4096 },
    'test',
  );

  it('records a child of an unreachable parent stopped, as parent-down when it claimed to run', async () => {
    const record = kitPaths('s', 'c').vm;
    writeState(record, { lab: 's', vm: 'c', phase: 'running', pid: 77 });
    assert.equal(await stopVm(undefined, lab, findVm(lab, 'c')!, { graceful: true }), 'parent-down');
    assert.equal(readState(record)?.phase, 'stopped');
    assert.equal(readState(record)?.pid, undefined);
    assert.equal(await stopVm(undefined, lab, findVm(lab, 'c')!, { graceful: true }), 'already-stopped');
  });
  it('stops the QEMU its machine finds and records it stopped', async () => {
    const m = new FakeMachine(h.dir, { honoursPowerdown: true });
    m.alive = true;
    writeState(kitPaths('s', 'p').vm, { lab: 's', vm: 'p', phase: 'running', pid: m.pid });
    assert.equal(await stopVm(m, lab, findVm(lab, 'p')!, { graceful: true }), 'powerdown');
    assert.equal(readState(kitPaths('s', 'p').vm)?.phase, 'stopped');
  });
});
