// Real guests, real QEMU (TCG on this kind of machine): image, boot, exec, cp, status,
// stop, and what happens when QEMU is killed.  Every QEMU started here is stopped in after().
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { kit, succeeded } from '../helpers/cli.ts';
import { qemusUnder, tinyLab, type TestLab } from '../helpers/vm.ts';

const json = (r: { stdout: string; stderr: string; status: number | null }) => {
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
};

describe('the tiny image', () => {
  it('builds from Debian packages (or comes from the cache) with a kernel, initramfs, root disk and host key', () => {
    const img = json(kit(['image', '--json']));
    assert.ok(img.sizes.kernel > 5e6, 'kernel too small');
    assert.ok(img.sizes.initrd > 1e6 && img.sizes.initrd < 20e6, `initramfs ${img.sizes.initrd}`);
    assert.match(img.hostKeyPub, /^ssh-ed25519 AAAA/);
    assert.ok(existsSync(img.paths.rootDisk));
    const again = json(kit(['image', '--json']));
    assert.equal(again.cached, true);
    assert.equal(again.hash, img.hash);
    assert.ok(again.seconds < 1, `cached lookup took ${again.seconds} s`);
  });
});

describe('a booted tiny guest', () => {
  let lab: TestLab & { ports: Record<string, number> };
  // --spec goes first: after `--` it would be part of the guest command.
  const k = (...args: string[]) => kit(['--spec', lab.spec, ...args], { env: lab.env });
  before(async () => {
    lab = await tinyLab('guests', [{ name: 'g1' }]);
  });
  after(() => {
    k('stop', 'g1', '--force');
    lab.cleanup();
  });

  it('boots to SSH and records its boot metrics', () => {
    const r = json(k('boot', 'g1', '--json'));
    assert.equal(r.accel === 'tcg' || r.accel === 'kvm', true);
    assert.match(r.uname, /^Linux g1 .* x86_64/);
    assert.ok(r.metrics.sshS > 0 && r.metrics.sshS >= r.metrics.bannerS && r.metrics.bannerS >= r.metrics.qmpS);
    assert.deepEqual(qemusUnder(lab.home), [r.pid]);
  });

  it('keeps its state files private', () => {
    const dir = join(lab.home, 'guests', 'g1');
    for (const f of ['qmp.sock', 'qemu.pid', 'serial.log', 'qemu.stderr', 'state.json', 'root.qcow2'])
      assert.equal(statSync(join(dir, f)).mode & 0o077, 0, `${f} is readable by others`);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(lab.home, 'guests', 'ssh', 'id_ed25519')).mode & 0o777, 0o600);
  });

  it('refuses to boot it twice', () => {
    const r = k('boot', 'g1');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /g1 is already running \(pid \d+\)/);
  });

  it('runs commands: stdout comes back, and so does a non-zero exit code', () => {
    const ok = k('exec', 'g1', '--', 'echo', 'hello world');
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, 'hello world\n');
    const bad = k('exec', 'g1', '--', 'echo oops >&2; exit 7');
    assert.equal(bad.status, 7);
    assert.equal(bad.stderr, 'oops\n');
    const j = json(k('exec', 'g1', '--json', '--', 'cat /proc/sys/kernel/hostname'));
    assert.deepEqual({ code: j.code, stdout: j.stdout }, { code: 0, stdout: 'g1\n' });
  });

  it('copies a file in and out byte for byte', () => {
    const src = join(lab.home, 'in.bin');
    const back = join(lab.home, 'back.bin');
    const bytes = randomBytes(256 * 1024 + 17);
    writeFileSync(src, bytes);
    succeeded(k('cp', src, 'g1:/root/in.bin'));
    assert.equal(k('exec', 'g1', '--', 'wc -c < /root/in.bin').stdout.trim(), String(bytes.length));
    const r = k('cp', 'g1:/root/in.bin', back);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(readFileSync(back).equals(bytes));
  });

  it('takes commands on stdin without a terminal', () => {
    const r = kit(['--spec', lab.spec, 'ssh', 'g1'], { env: lab.env, input: 'echo from-stdin; exit 5\n' });
    assert.equal(r.status, 5);
    assert.equal(r.stdout, 'from-stdin\n');
  });

  it('reports it running in status --json', () => {
    const rows = json(k('status', '--json'));
    assert.equal(rows.length, 1);
    assert.equal(rows[0].name, 'g1');
    assert.equal(rows[0].state, 'running');
    assert.deepEqual(rows[0].forwards, [{ bind: '127.0.0.1', host: lab.ports.g1, guest: 22, proto: 'tcp' }]);
  });

  it('after SIGKILL: status says crashed, stop cleans up, boot works again', () => {
    const pid = Number(readFileSync(join(lab.home, 'guests', 'g1', 'qemu.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    const start = Date.now();
    while (qemusUnder(lab.home).length && Date.now() - start < 5000);
    const rows = json(k('status', '--json'));
    assert.equal(rows[0].state, 'crashed');
    assert.match(rows[0].reason, /gone but was never stopped/);
    const stop = json(k('stop', 'g1', '--json'));
    assert.deepEqual({ was: stop.was, how: stop.how }, { was: 'crashed', how: 'already-stopped' });
    assert.equal(existsSync(join(lab.home, 'guests', 'g1', 'qemu.pid')), false);
    assert.equal(json(k('status', '--json'))[0].state, 'stopped');
    const again = json(k('boot', 'g1', '--json'));
    assert.match(again.uname, /^Linux g1/);
  });

  it('keeps what the guest wrote across a stop and boot; boot --fresh starts from a new root disk without it', () => {
    const run = (cmd: string) => {
      const r = k('exec', 'g1', '--', cmd);
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim();
    };
    const step = (...args: string[]) => assert.equal(k(...args).status, 0, args.join(' '));
    run('echo kept > /root/kept; sync');
    step('stop', 'g1');
    step('boot', 'g1', '--quiet');
    assert.equal(run('cat /root/kept'), 'kept');
    step('stop', 'g1');
    step('boot', 'g1', '--quiet', '--fresh');
    assert.equal(run('cat /root/kept 2>/dev/null || echo gone'), 'gone');
  });

  it('stops gracefully and leaves no QEMU of its own', () => {
    const r = json(k('stop', 'g1', '--json'));
    assert.equal(r.was, 'running');
    assert.equal(r.how, 'powerdown');
    assert.deepEqual(qemusUnder(lab.home), []);
    assert.equal(json(k('stop', 'g1', '--json')).how, 'already-stopped');
  });
});
