// The host's end of a port shell, against real shells on real FIFOs: a local `sh` stands for
// the guest's (QEMU's part, holding both FIFOs open read-write, is played by this process), and
// a second one for a nested child's, reached through the first.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { framed, PortShell, unframe } from '../../tasks/console/port-shell.ts';
import { TaskError } from '../../tasks/util/errors.ts';
import { statusOf } from '../../tasks/suspend/ready-by-port.ts';

describe('port shell framing', () => {
  it('takes the output between its own marks, with or without a last newline, and the exit status', () => {
    assert.deepEqual(unframe('ab', 'stale\ngc-begin-ab\nhello\n\ngc-end-ab 0\n'), { out: 'hello\n', code: 0 });
    assert.deepEqual(unframe('ab', 'gc-begin-ab\nno newline\ngc-end-ab 3\n'), { out: 'no newline', code: 3 });
    assert.deepEqual(unframe('ab', 'gc-begin-ab\n\ngc-end-ab 0\n'), { out: '', code: 0 });
  });

  it('waits for its end mark, and passes over another command’s', () => {
    assert.equal(unframe('ab', 'gc-begin-ab\nhalf'), undefined);
    assert.equal(unframe('ab', 'gc-begin-cd\nx\n\ngc-end-cd 0\n'), undefined);
  });

  it('frames a command so that it reads nothing from the port, and its exit ends only a subshell', () => {
    assert.match(framed('ab', 'cat'), /\( cat\n\) <\/dev\/null 2>&1;/);
  });
});

describe('port shell', () => {
  let dir = '';
  const held: number[] = [];
  const shells: ChildProcess[] = [];
  /** FIFOs held open read-write as QEMU holds them, and a shell reading commands from them. */
  const guest = (name: string, withShell = true) => {
    const pipe = join(dir, name);
    spawnSync('mkfifo', [`${pipe}.in`, `${pipe}.out`]);
    held.push(openSync(`${pipe}.in`, constants.O_RDWR), openSync(`${pipe}.out`, constants.O_RDWR));
    if (withShell) shells.push(spawn('sh', ['-c', `exec sh <"$0.in" >"$0.out" 2>&1`, pipe], { stdio: 'ignore' }));
    return pipe;
  };
  let top: PortShell;
  let child = '';
  let dead = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gc-portshell-'));
    top = PortShell.open(guest('top'))!;
    child = guest('child');
    dead = guest('dead', false);
  });
  after(() => {
    top.close();
    for (const s of shells) s.kill();
    for (const fd of held) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is there only where both FIFOs are', () => {
    assert.equal(PortShell.open(join(dir, 'none')), undefined);
  });

  it('runs a command: output and exit status', async () => {
    assert.deepEqual(await top.run('echo one; echo two >&2; false', 5000), { out: 'one\ntwo\n', code: 1 });
    assert.deepEqual(await top.run("printf 'no newline'", 5000), { out: 'no newline', code: 0 });
    assert.deepEqual(await top.run('exit 4', 5000), { out: '', code: 4 });
    assert.deepEqual(await top.run('echo after', 5000), { out: 'after\n', code: 0 });
  });

  it('runs commands in a child through its parent, quotes and all', async () => {
    assert.deepEqual(await top.runIn([child], `echo "it's $((40 + 2))"; exit 7`, 5000), { out: "it's 42\n", code: 7 });
    assert.deepEqual(await top.runIn([child], 'printf x', 5000), { out: 'x', code: 0 });
  });

  it('gives up on a child that does not answer, and the parent answers after', async () => {
    const t0 = Date.now();
    await assert.rejects(top.runIn([dead], 'true', 1000), (e: Error) => e instanceof TaskError && /no answer through the port shells/.test(e.message));
    assert.ok(Date.now() - t0 < 4000, 'the relay did not time out');
    assert.deepEqual(await top.run('echo still', 5000), { out: 'still\n', code: 0 });
  });

  it('runs jobs side by side, each answer its own: one waits for a file the next one writes', async () => {
    const flag = join(dir, 'flag');
    const answers = await top.runAll(
      [
        { via: [], command: `i=0; until [ -e ${flag} ]; do i=$((i + 1)); [ $i -gt 300 ] && exit 9; sleep 0.01; done; echo saw it` },
        { via: [child], command: `echo x > ${flag}; echo "child's"; exit 3` },
        { via: [], command: "printf 'no newline'" },
      ],
      5000,
    );
    assert.deepEqual(answers, [
      { out: 'saw it\n', code: 0 },
      { out: "child's\n", code: 3 },
      { out: 'no newline', code: 0 },
    ]);
  });

  it('runs jobs side by side: a child that does not answer fails them, and the parent answers after', async () => {
    await assert.rejects(
      top.runAll(
        [
          { via: [], command: 'true' },
          { via: [dead], command: 'true' },
        ],
        1000,
      ),
      (e: Error) => e instanceof TaskError && /no answer through the port shells/.test(e.message),
    );
    assert.deepEqual(await top.run('echo still', 5000), { out: 'still\n', code: 0 });
  });

  it('times out on a parent that does not answer', async () => {
    const mute = PortShell.open(guest('mute', false))!;
    try {
      await assert.rejects(mute.run('true', 300), /no answer on the port shell .* within 300 ms/);
    } finally {
      mute.close();
    }
  });
});

describe('a child going on, as its parent’s shell saw it', () => {
  const line = (...replies: string[]) => `pid=1\nqmp=${['{"QMP": {"version": {}}}', '{"return": {}}', ...replies].join('\r ')}\n`;
  it('went on: the status after cont', () => {
    assert.equal(
      statusOf(line('{"return": {"status": "paused", "running": false}}', '{"return": {}}', '{"return": {"status": "running", "running": true}}')),
      'running',
    );
  });
  it('was dead: the status it had, whatever cont said', () => {
    assert.equal(
      statusOf(line('{"return": {"status": "guest-panicked"}}', '{"error": {"class": "GenericError"}}', '{"return": {"status": "guest-panicked"}}')),
      'guest-panicked',
    );
  });
  it('no answer: none', () => {
    assert.equal(statusOf('pid=1\nqmp=\n'), undefined);
    assert.equal(statusOf('pid=1\n'), undefined);
  });
});
