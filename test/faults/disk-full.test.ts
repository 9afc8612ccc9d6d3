// A full disk under the state folder (a small tmpfs): creating a disk or a snapshot fails
// with a clear error, leaves no half-written file, and earlier snapshots stay intact.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kit } from '../helpers/cli.ts';
import { freePort, qemusUnder } from '../helpers/vm.ts';

describe('a full disk', () => {
  const mnt = mkdtempSync(join(tmpdir(), 'gc-full-'));
  let spec: string;
  const env = { GRAINCHART_HOME: join(mnt, 'state') };
  const k = (...args: string[]) => kit(['--spec', spec, ...args], { env });
  /** Runs `f` with the tmpfs filled to its last byte, and frees the room again after. */
  const whileFull = (f: () => void) => {
    const filler = join(mnt, 'filler');
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M', 'count=64'], { encoding: 'utf8' });
    try {
      f();
    } finally {
      rmSync(filler);
    }
  };
  before(async () => {
    // 48 MiB: room for the guest's overlay and a disk-only snapshot, not for its RAM.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0700', 'tmpfs', mnt]);
    spec = join(tmpdir(), `gc-full-${process.pid}.json`);
    writeFileSync(
      spec,
      JSON.stringify({
        name: 'full',
        vms: [
          { name: 'f1', memory: 512, boot: { image: 'tiny' }, network: { sshPort: await freePort() } },
          { name: 'f2', memory: 256, disk: { file: 'big.qcow2', size: '16T' }, boot: 'disk' },
        ],
      }),
    );
  });
  after(() => {
    k('stop', 'f1', '--force');
    for (const pid of qemusUnder(mnt)) process.kill(pid, 'SIGKILL');
    spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
    rmSync(spec, { force: true });
  });

  it('a live snapshot that does not fit fails clearly; the earlier one is intact and the disk checks clean', () => {
    assert.equal(k('boot', 'f1', '--quiet').status, 0);
    assert.equal(k('stop', 'f1', '--quiet').status, 0);
    assert.equal(k('snapshot', 'f1', '--name', 'small').status, 0, 'a disk-only snapshot fits');
    assert.equal(k('boot', 'f1', '--quiet').status, 0);
    const r = k('snapshot', 'f1', '--name', 'big');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /snapshot-save of big failed in f1: .*(No space|space|I\/O|Input\/output)/i);
    assert.match(r.stderr, /hint: is the disk full\?/);
    const stop = k('stop', 'f1', '--force');
    assert.equal(stop.status, 0, stop.stderr);
    // The tmpfs may now be full of the failed save: a boot then fails at once, saying why.
    if (spawnSync('df', ['--output=avail', '-B1', mnt], { encoding: 'utf8' }).stdout.split('\n')[1]!.trim() === '0') {
      const stuck = k('boot', 'f1', '--quiet', '--timeout', '120');
      assert.equal(stuck.status, 1);
      assert.match(
        stuck.stderr,
        /the guest stopped: QMP status io-error[\s\S]*hint: QEMU could not write the VM's disk: is the filesystem that holds .* full\?/,
      );
      assert.deepEqual(qemusUnder(mnt), []);
    }
    const names = JSON.parse(k('snapshots', 'f1', '--json').stdout).map((s: { name: string }) => s.name);
    assert.deepEqual(names, ['small']);
    const check = spawnSync('qemu-img', ['check', join(mnt, 'state', 'full', 'f1', 'root.qcow2')], { encoding: 'utf8' });
    assert.ok(check.status === 0 || check.status === 3, check.stdout + check.stderr);
  });

  it('stopping a VM on a full filesystem still records it stopped, and leaves no temporary file', () => {
    // A new overlay: the failed live snapshot above may have left the old one filling the tmpfs.
    const boot = k('boot', 'f1', '--quiet', '--fresh');
    assert.equal(boot.status, 0, boot.stderr);
    whileFull(() => {
      const stop = k('stop', 'f1', '--force');
      assert.equal(stop.status, 0, stop.stderr);
      const status = k('status', '--json');
      const f1 = JSON.parse(status.stdout).find((v: { name: string }) => v.name === 'f1');
      assert.equal(f1?.state, 'stopped', status.stdout + status.stderr);
      assert.deepEqual(
        readdirSync(join(mnt, 'state', 'full', 'f1')).filter((f) => f.endsWith('.tmp')),
        [],
      );
      assert.deepEqual(qemusUnder(mnt), []);
    });
  });

  it('creating a disk on a full filesystem fails clearly and leaves no half-made image', () => {
    // Fill what is left, then ask for a 16 TiB qcow2, whose tables need more than a few bytes.
    whileFull(() => {
      const r = k('disk-create', 'f2');
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /qemu-img failed[\s\S]*(No space left|space)/i);
      assert.ok(!existsSync(join(mnt, 'state', 'full', 'f2', 'big.qcow2')), `left: ${readdirSync(join(mnt, 'state', 'full', 'f2')).join(', ')}`);
    });
  });
});
