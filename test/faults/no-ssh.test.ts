// A guest that never answers SSH (booted with gc.nossh: no sshd): boot fails at the SSH
// banner stage within its timeout, says so, shows the serial log and what its vCPU was doing,
// and stops its QEMU (its RAM in memory goes with it).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { kit } from '../helpers/cli.ts';
import { runningRamFile } from '../../tasks/util/paths.ts';
import { qemusUnder, tinyLab, type TestLab } from '../helpers/vm.ts';

describe('a guest without sshd', () => {
  let lab: TestLab;
  before(async () => {
    lab = await tinyLab('nossh', [{ name: 'n1', extra: { boot: { image: 'tiny', append: 'gc.nossh' } } }]);
  });
  after(() => lab.cleanup());

  it('fails at the SSH banner stage within the timeout, with the serial log and a hint', () => {
    const t0 = Date.now();
    const r = kit(['--spec', lab.spec, 'boot', 'n1', '--timeout', '25'], { env: lab.env });
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(r.status, 1);
    assert.match(r.stderr, /failed to boot after 2\d\.\d s: timed out .* waiting for n1: SSH banner/);
    assert.match(r.stderr, /serial console \(last \d+ lines\):[\s\S]*gc: gc.nossh given, no sshd/);
    // What its vCPU was doing when the wait gave up, read before its QEMU was stopped.
    assert.match(
      r.stderr,
      /vCPUs \(QEMU's info cpus, registers and local APICs\):\n\s+CPU #0: thread_id=\d+ · RIP [0-9a-f]{16} · (halted|running) · IRR .+ · ISR .+\n/,
    );
    assert.match(r.stderr, /hint: the guest did not start sshd/);
    assert.ok(seconds < 25 + 10, `took ${seconds} s`);
    assert.deepEqual(qemusUnder(lab.home), [], 'the failed boot stopped its QEMU');
    const ram = runningRamFile(join(lab.home, 'nossh', 'n1'), { ...process.env, ...lab.env });
    assert.ok(!existsSync(ram), `the failed boot left its RAM in memory: ${ram}`);
    const status = JSON.parse(kit(['--spec', lab.spec, 'status', '--json'], { env: lab.env }).stdout)[0];
    assert.equal(status.state, 'stopped');
    assert.match(status.reason ?? '', /SSH banner/);
  });
});
