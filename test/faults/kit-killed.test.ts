// The kit itself killed in the middle of `up`: Ctrl-C (SIGINT) stops what that run started
// and exits 130; after SIGKILL nothing is cleaned up, but the next `status` finds the QEMU
// through its pidfile and `down` stops it.  No QEMU is left untracked.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kit, succeeded } from '../helpers/cli.ts';
import { qemusUnder, tinyLab, type TestLab } from '../helpers/vm.ts';
import { kitInBackground, waitFor } from '../helpers/spawn.ts';

describe('the kit killed during up', () => {
  let lab: TestLab;
  const k = (...args: string[]) => kit(['--spec', lab.spec, ...args], { env: lab.env });
  const states = () => JSON.parse(k('status', '--json').stdout).map((s: { name: string; state: string }) => `${s.name}:${s.state}`);

  before(async () => {
    lab = await tinyLab('upkill', [{ name: 'u1' }, { name: 'u2' }]);
  });
  after(() => {
    k('down', '--force');
    lab.cleanup();
  });

  it('SIGINT: stops what this up started and exits 130', async () => {
    const up = kitInBackground(['--spec', lab.spec, 'up'], lab.env);
    // Interrupt while the first VM's QEMU is booting.
    await waitFor('a QEMU to start', () => qemusUnder(lab.home).length > 0);
    up.child.kill('SIGINT');
    const r = await up.done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted: stopping what this `up` started/);
    await waitFor('its QEMUs to go', () => qemusUnder(lab.home).length === 0, 15_000);
    assert.deepEqual(states(), ['u1:stopped', 'u2:stopped']);
  });

  it('SIGINT leaves VMs that were running before alone', async () => {
    succeeded(k('boot', 'u1', '--quiet'));
    const before = qemusUnder(lab.home);
    const up = kitInBackground(['--spec', lab.spec, 'up'], lab.env);
    await waitFor('u2’s QEMU to start', () => existsSync(join(lab.home, 'upkill', 'u2', 'qemu.pid')) && qemusUnder(lab.home).length > 1);
    up.child.kill('SIGINT');
    assert.equal((await up.done).code, 130);
    await waitFor('u2’s QEMU to go', () => qemusUnder(lab.home).length === 1, 15_000);
    assert.deepEqual(qemusUnder(lab.home), before);
    assert.deepEqual(states(), ['u1:running', 'u2:stopped']);
    succeeded(k('stop', 'u1', '--force'));
  });

  it('SIGKILL: the orphan is found by its pidfile, and down stops it', async () => {
    const up = kitInBackground(['--spec', lab.spec, 'up'], lab.env);
    // Both VMs boot at once here; kill the kit once both QEMUs are launched.
    const launched = (vm: string) => {
      const f = join(lab.home, 'upkill', vm, 'state.json');
      return existsSync(f) && /"phase": "booting"/.test(readFileSync(f, 'utf8'));
    };
    await waitFor('both QEMUs to be launched', () => launched('u1') && launched('u2'));
    up.child.kill('SIGKILL');
    await up.done;
    const orphans = qemusUnder(lab.home).sort();
    assert.equal(orphans.length, 2);
    const found = JSON.parse(k('status', '--json').stdout).filter((s: { pid?: number }) => s.pid && orphans.includes(s.pid));
    assert.deepEqual(found.map((s: { pid: number }) => s.pid).sort(), orphans, 'status names each orphan with its pid');
    for (const s of found) assert.match(s.state, /^(booting|running)$/);
    succeeded(k('down', '--force'));
    assert.deepEqual(qemusUnder(lab.home), []);
  });
});
