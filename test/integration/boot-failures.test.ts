// Boots that must fail, and fail well: clearly, quickly, and leaving no QEMU behind.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { kit } from '../helpers/cli.ts';
import { qemusUnder, tinyLab, type TestLab } from '../helpers/vm.ts';
import { classifyKvm, readKvmFacts } from '../../tasks/qemu/host-probe.ts';

describe('a boot that cannot start', () => {
  let lab: TestLab & { ports: Record<string, number> };
  let blocker: Server;
  before(async () => {
    lab = await tinyLab('fails', [{ name: 'f1' }]);
    blocker = createServer().listen(lab.ports.f1, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
  });
  after(() => {
    blocker.close();
    lab.cleanup();
  });

  it('refuses a taken port before QEMU starts, and names the holder', () => {
    const r = kit(['--spec', lab.spec, 'boot', 'f1'], { env: lab.env });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`port 127\\.0\\.0\\.1:${lab.ports.f1} is taken by pid ${process.pid} \\(node\\); not starting QEMU`));
    assert.match(r.stderr, /hint: stop what holds it/);
    assert.deepEqual(qemusUnder(lab.home), []);
    assert.equal(existsSync(join(lab.home, 'fails', 'f1', 'qemu.pid')), false);
  });
});

const kvm = classifyKvm(readKvmFacts('/'));

describe('accel=kvm where KVM is unusable', { skip: kvm.state === 'usable' ? 'KVM is usable on this host, so a forced KVM boot succeeds' : false }, () => {
  let lab: TestLab & { ports: Record<string, number> };
  before(async () => {
    lab = await tinyLab('kvm', [{ name: 'k1', extra: { accel: 'kvm' } }]);
  });
  after(() => lab.cleanup());

  // Unusable KVM shows one of two faces, by the day: QEMU refuses at start (vCPU MSR setup
  // fails), or it starts and the guest crawls until QMP says internal-error.  Either way the
  // error must name KVM, hint at accel auto/tcg, and leave no QEMU behind.
  it('fails within 30 s naming KVM, with the fallback hint, and stops its QEMU', () => {
    const start = Date.now();
    const r = kit(['--spec', lab.spec, 'boot', 'k1'], { env: lab.env });
    const seconds = (Date.now() - start) / 1000;
    assert.equal(r.status, 1, r.stderr);
    assert.ok(seconds < 30, `took ${seconds} s`);
    const refused = /error: QEMU refused to start under accel=kvm: KVM is (unusable|absent) here/.test(r.stderr);
    if (refused) {
      assert.match(r.stderr, /hint: set accel: auto or tcg for k1/);
      assert.doesNotMatch(r.stderr, /the spec or the machine is missing something/);
    } else {
      assert.match(r.stderr, /kvm\/k1 failed to boot after/);
      assert.match(r.stderr, /hint: KVM is (unusable|absent) here \(.*\): set accel: auto or tcg for k1/);
      assert.match(r.stderr, /serial console \(last 20 lines\)/);
    }
    assert.deepEqual(qemusUnder(lab.home), []);
    const rows = JSON.parse(kit(['--spec', lab.spec, 'status', '--json'], { env: lab.env }).stdout);
    assert.equal(rows[0].state, 'stopped');
    assert.match(rows[0].reason, refused ? /refused to start under accel=kvm/ : /timed out|stopped|exited/);
  });
});
