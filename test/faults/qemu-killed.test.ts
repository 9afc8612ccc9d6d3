// QEMU killed with SIGKILL while booting, while running, while snapshotting: the kit says
// crashed (or failed), stop and up recover, and the disk passes qemu-img check.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kit } from '../helpers/cli.ts';
import { qemusUnder, tinyLab, type TestLab } from '../helpers/vm.ts';
import { kitInBackground, waitFor } from '../helpers/spawn.ts';

describe('QEMU killed', () => {
  let lab: TestLab;
  const k = (...args: string[]) => kit(['--spec', lab.spec, ...args], { env: lab.env });
  const ok = (r: ReturnType<typeof kit>) => {
    assert.equal(r.status, 0, `${r.stderr}\n${r.stdout}`);
    return r;
  };
  const dir = () => join(lab.home, 'killed', 'q1');
  const pid = () => (existsSync(join(dir(), 'qemu.pid')) ? Number(readFileSync(join(dir(), 'qemu.pid'), 'utf8')) : 0);
  const state = () => JSON.parse(ok(k('status', '--json')).stdout)[0].state as string;
  /** qemu-img check: 0 clean, 3 only leaked clusters ("no harm to data"; `-r leaks` reclaims them), never corruption. */
  const checkDisk = () => {
    const r = spawnSync('qemu-img', ['check', join(dir(), 'root.qcow2')], { encoding: 'utf8' });
    assert.ok(r.status === 0 || r.status === 3, `qemu-img check exit ${r.status}: ${r.stdout}${r.stderr}`);
    assert.match(
      r.stdout,
      r.status === 0 ? /No errors were found on the image/ : /leaked clusters were found on the image\.\nThis means waste of disk space, but no harm to data/,
    );
    assert.doesNotMatch(r.stdout, /^ERROR|corruptions? (were )?found/m);
  };

  before(async () => {
    lab = await tinyLab('killed', [{ name: 'q1' }]);
  });
  after(() => {
    k('stop', 'q1', '--force');
    lab.cleanup();
  });

  it('while booting: the boot fails at once saying QEMU exited; the next boot works', async () => {
    const boot = kitInBackground(['--spec', lab.spec, 'boot', 'q1', '--quiet'], lab.env);
    // Once launched (state "booting"), not while QEMU's -daemonize parent is still starting it.
    await waitFor(
      'QEMU to be launched',
      () => existsSync(join(dir(), 'state.json')) && /"phase": "booting"/.test(readFileSync(join(dir(), 'state.json'), 'utf8')),
    );
    const p = pid();
    process.kill(p, 'SIGKILL');
    const r = await boot.done;
    assert.equal(r.code, 1);
    assert.match(r.stderr, /QEMU exited during boot|gone|exited/);
    assert.notEqual(state(), 'running');
    checkDisk();
    ok(k('boot', 'q1', '--quiet'));
    assert.equal(state(), 'running');
  });

  it('while running: status says crashed, up brings it back', () => {
    process.kill(pid(), 'SIGKILL');
    spawnSync('sleep', ['0.5']);
    assert.equal(state(), 'crashed');
    checkDisk();
    ok(k('up', '--quiet'));
    assert.equal(state(), 'running');
    assert.equal(ok(k('exec', 'q1', '--', 'echo back')).stdout.trim(), 'back');
  });

  it('while snapshotting: the snapshot fails, the earlier snapshot stays, stop and boot recover', async () => {
    // 150 MB of guest memory that is not zero pages, so the live snapshot's state takes
    // seconds to write and the kill lands inside it (an idle tiny guest saves in ~0.1 s).
    ok(k('exec', 'q1', '--', 'yes | head -c 157286400 > /tmp/fill'));
    ok(k('snapshot', 'q1', '--name', 'before'));
    const snap = kitInBackground(['--spec', lab.spec, 'snapshot', 'q1', '--name', 'during'], lab.env);
    // Kill QEMU once the kit says the live snapshot is starting.
    await waitFor('the snapshot to start', () => /live snapshot/.test(snap.stderr()));
    await new Promise((r) => setTimeout(r, 150));
    process.kill(pid(), 'SIGKILL');
    const r = await snap.done;
    assert.equal(r.code, 1, r.stderr);
    assert.equal(state(), 'crashed');
    ok(k('stop', 'q1'));
    checkDisk();
    const names = JSON.parse(ok(k('snapshots', 'q1', '--json')).stdout).map((s: { name: string }) => s.name);
    assert.ok(names.includes('before'), names.join(','));
    assert.ok(!names.includes('during'), 'no half snapshot under the new name');
    ok(k('boot', 'q1', '--quiet'));
    ok(k('restore', 'q1', 'before', '--yes'));
    ok(k('stop', 'q1', '--force'));
    assert.deepEqual(qemusUnder(lab.home), []);
  });
});
