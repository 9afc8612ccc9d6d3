// SSH connections that end under a nested boot, for real: `up` goes on over new ones and says
// what it retried; a guest that refuses the lab key still fails at once, naming the stage.
//   - the child's sshd ends the connection of its first command (gc.sshdrop=1: the image's
//     forced command kills dropbear's process for it), and while the child boots, every
//     other connection into the parent is killed there (the session the boot runs through);
//   - the child holds another key than the lab's (gc.authkey on its command line).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { TASKS } from '../helpers/cli.ts';
import { specLab, tinyNestVm } from '../helpers/spec-lab.ts';
import { droppedConnection } from '../../tasks/ssh/dropped.ts';

const pair = async (lab: string, childAppend: string) => ({
  name: lab,
  vms: [await tinyNestVm('p1', 'c1', {}, { boot: { image: 'tiny', append: childAppend } })],
});

// In the parent: end every connection of its sshd but the one this runs over.
const KILL_OTHER_SESSIONS = [
  'me=$PPID; read -r _ _ _ listener _ < /proc/$me/stat',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
  'for d in /proc/[0-9]*; do p=${d#/proc/}; read -r _ c _ pp _ < $d/stat 2>/dev/null || continue',
  '  if [ "$c" = "(dropbear)" ] && [ "$pp" = "$listener" ] && [ "$p" != "$me" ]; then kill $p && echo killed $p; fi',
  'done',
].join('\n');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('dropped SSH connections during a nested up', () => {
  const lab = specLab('gc-drop-', () => pair('droptest', 'gc.sshdrop=1'));
  const { k, ok, json } = lab;

  it('comes up over new connections, and says which stages it retried and why', { timeout: 300_000 }, async () => {
    const up = spawn(process.execPath, ['--import', 'tsx', TASKS, '--spec', lab.spec, 'up', '--json'], { env: { ...process.env, ...lab.env } });
    let stdout = '';
    let stderr = '';
    up.stdout.on('data', (c) => (stdout += c));
    up.stderr.on('data', (c) => (stderr += c));
    const exited = new Promise<number | null>((r) => up.on('exit', r));
    // Once the child's QEMU runs inside the parent, its boot talks over the parent's session: end it.
    const record = join(lab.home, 'droptest', 'c1', 'state.json');
    let killed = '';
    for (let i = 0; i < 600 && !killed; i++) {
      if (existsSync(record) && JSON.parse(readFileSync(record, 'utf8')).phase === 'booting') {
        await sleep(1500);
        killed = ok(k('exec', 'p1', '--', KILL_OTHER_SESSIONS)).stdout;
      } else await sleep(250);
    }
    assert.match(killed, /killed \d+/, 'no connection of the boot was found to end in the parent');
    const code = await exited;
    assert.equal(code, 0, stderr);
    // JSON Lines: a record per VM as it comes up, then `done` with every step.
    const done = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((e) => e.event === 'done');
    const child = done.steps.find((s: { vm: string }) => s.vm === 'c1');
    const retries = child.result.metrics.retries as Array<{ stage: string; times: number; reason: string }>;
    assert.ok(retries?.length, `no retry recorded: ${JSON.stringify(child.result.metrics)}`);
    for (const r of retries) assert.ok(droppedConnection(r.reason) || /ended; a new one was made$/.test(r.reason), r.reason);
    // Both faults were met: the child's own connection, and the parent's session under the boot.
    assert.ok(
      retries.some((r) => /the SSH connection ended while `uname -a` ran/.test(r.reason)),
      JSON.stringify(retries),
    );
    assert.ok(
      retries.some((r) => /inside p1 ended; a new one was made|Not connected|No response from server/.test(r.reason)),
      JSON.stringify(retries),
    );
    assert.match(stderr, /c1: .*retried \d+× after a dropped SSH connection/, `said on stderr too:\n${stderr}`);
    // The child's sshd did end a connection (c1's QEMU runs inside p1: its serial log is there), and the lab works after.
    const serial = ok(k('exec', 'p1', '--', 'cat', '/var/lib/grainchart/vms/droptest/c1/serial.log')).stdout;
    assert.match(serial, /gc: gc\.sshdrop: ended connection \d+ at its command/);
    assert.match(ok(k('exec', 'c1', '--', 'echo', 'still-here')).stdout, /still-here/);
    assert.deepEqual(
      json(k('status', '--json')).map((r: { name: string; state: string }) => [r.name, r.state]),
      [
        ['p1', 'running'],
        ['c1', 'running'],
      ],
    );
  });
});

describe('a child that refuses the lab key', () => {
  const other = ssh2.utils.generateKeyPairSync('ed25519').public.split(' ').slice(0, 2).join(':');
  const lab = specLab('gc-keyrefused-', () => pair('keytest', `gc.authkey=${other}`));

  it('fails at the `uname -a` stage on the refusal itself, not a timeout, and keeps its parent', () => {
    const r = lab.k('up');
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /keytest\/c1 failed to boot inside p1 after \d+\.\d s, at `uname -a` over SSH: c1: sshd at 127\.0\.0\.1:2224 refused the key .* for root \(2 times\)/,
    );
    assert.doesNotMatch(r.stderr, /timed out/);
    assert.match(r.stderr, /hint: the guest does not hold the lab's public key/);
    assert.deepEqual(
      lab.json(lab.k('status', '--json')).map((s: { name: string; state: string }) => [s.name, s.state]),
      [
        ['p1', 'running'],
        ['c1', 'stopped'],
      ],
    );
  });
});
