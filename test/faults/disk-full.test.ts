// A full disk under the state folder (a small tmpfs): creating a disk or a snapshot fails
// with a clear error, leaves no half-written file, and earlier snapshots stay intact.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kit, succeeded } from '../helpers/cli.ts';
import { freePort, qemusUnder } from '../helpers/vm.ts';
import { readState, writeState, type VmState } from '../../tasks/machine/record.ts';
import { vmPaths } from '../../tasks/util/paths.ts';

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
    succeeded(k('boot', 'f1', '--quiet'));
    succeeded(k('stop', 'f1', '--quiet'));
    succeeded(k('snapshot', 'f1', '--name', 'small'), 'a disk-only snapshot fits');
    succeeded(k('boot', 'f1', '--quiet'));
    const r = k('snapshot', 'f1', '--name', 'big');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /snapshot-save of big failed in f1: .*(No space|space|I\/O|Input\/output)/i);
    assert.match(r.stderr, /hint: is the disk full\?/);
    const stop = k('stop', 'f1', '--force');
    assert.equal(stop.status, 0, stop.stderr);
    const names = JSON.parse(k('snapshots', 'f1', '--json').stdout).map((s: { name: string }) => s.name);
    assert.deepEqual(names, ['small']);
    const check = spawnSync('qemu-img', ['check', join(mnt, 'state', 'full', 'f1', 'root.qcow2')], { encoding: 'utf8' });
    assert.ok(check.status === 0 || check.status === 3, check.stdout + check.stderr);
  });

  it('a guest on a full filesystem stops at its first write that needs room, and the kit says why', (t) => {
    whileFull(() => {
      const boot = k('boot', 'f1', '--quiet', '--timeout', '120');
      if (boot.status === 0) {
        // The guest wrote nothing to a new cluster while it booted (its earlier boots had
        // written the same blocks): make it write, and QEMU pauses it on the failed write.
        t.diagnostic('the boot fitted; a write in the guest then stopped it');
        const write = 'dd if=/dev/urandom of=/gc-fill bs=64k count=128 conv=fsync';
        kit(['--spec', spec, 'exec', 'f1', '--', write], { env, timeoutMs: 30_000 });
        const f1 = JSON.parse(k('status', '--json').stdout).find((v: { name: string }) => v.name === 'f1');
        assert.equal(f1?.state, 'crashed', JSON.stringify(f1));
        assert.match(f1?.reason ?? '', /QEMU reports io-error/);
        succeeded(k('stop', 'f1', '--force'));
      } else if (/QEMU refused to start/.test(boot.stderr)) {
        // Not even its pidfile fitted: QEMU exits, and its message is lost with it.
        t.diagnostic('QEMU itself could not start on the full disk');
        assert.equal(boot.status, 1, boot.stderr);
        assert.match(boot.stderr, /QEMU refused to start and said nothing[\s\S]*hint: its messages go to a file in .*: is the filesystem that holds it full\?/);
      } else {
        t.diagnostic('the boot itself stopped on the full disk');
        assert.equal(boot.status, 1, boot.stderr);
        assert.match(
          boot.stderr,
          /the guest stopped: QMP status io-error[\s\S]*hint: QEMU could not write the VM's disk: is the filesystem that holds .* full\?/,
        );
      }
      assert.deepEqual(qemusUnder(mnt), []);
    });
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

  it("a VM's record on a full filesystem: a shorter one is written in place; a longer one fails naming the file and leaves the old one whole", () => {
    const p = vmPaths(join(mnt, 'records'), 'full', 'r1');
    const record = (failure: string): VmState => ({ lab: 'full', vm: 'r1', phase: 'failed', failure });
    writeState(p, record('x'.repeat(3000)));
    whileFull(() => {
      writeState(p, record('shorter'));
      assert.equal(readState(p)?.failure, 'shorter');
      const before = readFileSync(join(p.dir, 'state.json'), 'utf8');
      assert.throws(
        () => writeState(p, record('y'.repeat(64 * 1024))),
        (err: Error & { hint?: string }) =>
          /no room to record the VM's state in .*state\.json/.test(err.message) && /is full: free space there/.test(err.hint ?? ''),
      );
      assert.equal(readFileSync(join(p.dir, 'state.json'), 'utf8'), before);
      assert.deepEqual(readdirSync(p.dir), ['state.json']);
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
