// Where a VM's RAM lives while it runs (a tmpfs file of its own) and while it is suspended (a
// sparse copy in its folder): the names never meet, the room check counts what the other RAM
// files there may still grow by, the copy keeps holes as holes, and a saved state's command
// line is the same wherever its RAM was mapped from.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, statfsSync, truncateSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runningRamFile } from '../../tasks/util/paths.ts';
import { hostMachine } from '../../tasks/machine/host.ts';
import { copyRam } from '../../tasks/machine/ram-file.ts';
import { checkSameDevices } from '../../tasks/vm/boot-preflight.ts';
import type { QemuRef } from '../../tasks/machine/machine.ts';

const scratch = mkdtempSync(join(tmpdir(), 'gc-ramfile-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs f with GRAINCHART_RAM_DIR / GRAINCHART_RAM_FILES set, then puts them back. */
function withEnv<T>(env: Record<string, string | undefined>, f: () => T): T {
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (e: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(e)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  };
  set(env);
  try {
    return f();
  } finally {
    set(before);
  }
}

const ref = (dir: string): QemuRef => ({ name: 'v', paths: { dir, qmp: '', pid: '', serial: '', stderr: '' } });

describe('the running RAM file', () => {
  it('is one per VM folder, in the RAM folder, named so a person can tell whose it is', () => {
    const a = runningRamFile('/state-a/lab/l1', { GRAINCHART_RAM_DIR: '/dev/shm' });
    const b = runningRamFile('/state-b/lab/l1', { GRAINCHART_RAM_DIR: '/dev/shm' });
    assert.notEqual(a, b, 'two state folders share a RAM file');
    assert.equal(dirname(a), '/dev/shm');
    assert.match(a, /\/grainchart-lab-l1-[0-9a-f]{12}\.ram$/);
    assert.equal(runningRamFile('/s/lab/l1', {}), runningRamFile('/s/lab/l1', { GRAINCHART_RAM_DIR: '' }));
    assert.ok(!runningRamFile('/s/a,b/l1', {}).includes(','), 'a comma would split the QEMU option');
  });

  it('is none when RAM files are turned off or the RAM folder does not exist', () => {
    const dir = join(scratch, 'off');
    assert.equal(
      withEnv({ GRAINCHART_RAM_FILES: '0', GRAINCHART_RAM_DIR: scratch }, () => hostMachine.ramFileFor?.(ref(dir), 64)),
      undefined,
    );
    assert.equal(
      withEnv({ GRAINCHART_RAM_FILES: undefined, GRAINCHART_RAM_DIR: join(scratch, 'absent') }, () => hostMachine.ramFileFor?.(ref(dir), 64)),
      undefined,
    );
    const planned = withEnv({ GRAINCHART_RAM_FILES: undefined, GRAINCHART_RAM_DIR: join(scratch, 'absent') }, () =>
      hostMachine.ramFileFor?.(ref(dir), 64, 'assumed'),
    );
    assert.equal(planned, runningRamFile(dir, { GRAINCHART_RAM_DIR: join(scratch, 'absent') }), 'a plan assumes the room');
  });

  it('counts what the other RAM files there may still grow by against the room', () => {
    const dir = join(scratch, 'room');
    const env = { GRAINCHART_RAM_FILES: undefined, GRAINCHART_RAM_DIR: scratch };
    assert.equal(
      withEnv(env, () => hostMachine.ramFileFor?.(ref(dir), 64)),
      runningRamFile(dir, env),
    );
    // Another VM's RAM file, untouched yet, as big as all the free space: nothing is left for this one.
    const fs = statfsSync(scratch);
    const other = join(scratch, 'grainchart-lab-other-000000000000.ram');
    writeFileSync(other, '');
    truncateSync(other, fs.bavail * fs.bsize);
    try {
      assert.equal(
        withEnv(env, () => hostMachine.ramFileFor?.(ref(dir), 64)),
        undefined,
      );
    } finally {
      rmSync(other);
    }
  });
});

describe('copyRam', () => {
  it('copies the touched pages and leaves the untouched ones as holes', async () => {
    const from = join(scratch, 'hot.ram');
    const to = join(scratch, 'saved.ram');
    writeFileSync(from, '');
    truncateSync(from, 64 * 2 ** 20);
    const fd = openSync(from, 'r+');
    writeSync(fd, Buffer.alloc(4096, 7), 0, 4096, 32 * 2 ** 20);
    closeSync(fd);
    await copyRam(hostMachine, from, to);
    assert.deepEqual(readFileSync(to), readFileSync(from));
    assert.ok(statSync(to).blocks * 512 < 2 ** 20, `the copy takes ${statSync(to).blocks * 512} bytes: the holes were written`);
  });

  it('leaves no part behind and the old copy as it was when it fails', async () => {
    const to = join(scratch, 'kept.ram');
    writeFileSync(to, 'old');
    await assert.rejects(copyRam(hostMachine, join(scratch, 'missing.ram'), to));
    assert.equal(readFileSync(to, 'utf8'), 'old');
    assert.throws(() => statSync(`${to}.part`));
  });
});

describe('a saved state’s command line', () => {
  const argv = (path: string) => ['-m', '1024', '-object', `memory-backend-file,id=pc.ram,size=1024M,mem-path=${path},share=on`, '-smp', '2'];
  it('is the same wherever its RAM is mapped from', () => {
    checkSameDevices('l1', argv('/dev/shm/grainchart-l-l1.ram'), argv('/state/l/l1/ram'));
    checkSameDevices('l1', argv('/a,,b/ram'), argv('/c/ram'));
  });
  it('differs by anything else', () => {
    assert.throws(() => checkSameDevices('l1', argv('/x'), [...argv('/x').slice(0, 5), '4']), /argument 6 was "2", now "4"/);
    assert.throws(
      () =>
        checkSameDevices(
          'l1',
          argv('/x'),
          argv('/x').map((a) => a.replace('1024M', '2048M')),
        ),
      /argument 4/,
    );
  });
});
