// Snapshots of a real tiny guest: live (VM state included) and offline, named by graintime,
// restored only when asked, and refused with reasons where they cannot work.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { kit } from '../helpers/cli.ts';
import { qemusUnder, tinyLab, type TestLab } from '../helpers/vm.ts';
import { parseStamp } from '../../tasks/graintime/stamp.ts';

describe('snapshots of a tiny guest', () => {
  let lab: TestLab & { ports: Record<string, number> };
  const k = (...args: string[]) => kit(['--spec', lab.spec, ...args], { env: { ...lab.env, GRAINTIME_CONFIG: '/nonexistent.json' } });
  const ok = (r: ReturnType<typeof kit>) => {
    assert.equal(r.status, 0, r.stderr);
    return r;
  };
  const json = (r: ReturnType<typeof kit>) => JSON.parse(ok(r).stdout);
  const inGuest = (cmd: string) => ok(k('exec', 's1', '--', cmd)).stdout.trim();
  const list = () =>
    json(k('snapshots', 's1', '--json')) as {
      name: string;
      vmStateSize: number;
      date: string;
      stamp: { fields: Record<string, unknown> } | null;
      complete: boolean;
    }[];

  before(async () => {
    lab = await tinyLab('snaps', [{ name: 's1' }, { name: 'r1', extra: { boot: { image: 'tiny', root: 'ram' } } }]);
    ok(k('boot', 's1', '--quiet'));
  });
  after(() => {
    k('stop', 's1', '--force');
    lab.cleanup();
  });

  it('restores a running guest live: a deleted file comes back', () => {
    inGuest('echo kept > /root/data; sync');
    const made = json(k('snapshot', 's1', '--name', 'golden', '--json'));
    assert.deepEqual(
      made.map((s: { vm: string; how: string }) => [s.vm, s.how]),
      [['s1', 'live']],
    );
    inGuest('rm /root/data; sync');
    // Without --yes (and no terminal) nothing is restored.
    const refused = k('restore', 's1', 'golden');
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /replaces its current state; not doing that without --yes/);
    assert.equal(k('exec', 's1', '--', 'cat /root/data').status, 1);
    const back = json(k('restore', 's1', 'golden', '--yes', '--json'));
    assert.equal(back[0].how, 'live');
    assert.equal(inGuest('cat /root/data'), 'kept');
    const golden = list().find((s) => s.name === 'golden')!;
    assert.ok(golden.vmStateSize > 0 && golden.complete, 'a live snapshot holds the VM state');
  });

  it('names a snapshot by graintime by default; the list decodes it and sorts by time', async () => {
    const first = json(k('snapshot', 's1', '--json'))[0].name as string;
    const second = json(k('snapshot', 's1', '--json'))[0].name as string;
    assert.ok(parseStamp(first).ok, first);
    // Two in one minute: the second gets a suffix rather than failing.
    assert.notEqual(second, first);
    assert.ok(second === `${first}.2` || parseStamp(second).ok, second);
    const names = list().map((s) => s.name);
    assert.deepEqual(names.slice(-2), [first, second]);
    const entry = list().find((s) => s.name === first)!;
    assert.deepEqual(entry.stamp!.fields, (parseStamp(first) as { fields: unknown }).fields);
    const dates = list().map((s) => s.date);
    assert.deepEqual(dates, [...dates].sort());
    for (const n of [first, second]) ok(k('snapshot-rm', 's1', n));
    assert.deepEqual(
      list().map((s) => s.name),
      ['golden'],
    );
  });

  it('keeps the current state on request before restoring', () => {
    inGuest('echo newer > /root/data; sync');
    const before = new Set(list().map((s) => s.name));
    ok(k('restore', 's1', 'golden', '--keep-current'));
    assert.equal(inGuest('cat /root/data'), 'kept');
    const kept = list().find((s) => !before.has(s.name))!;
    assert.ok(kept, 'a snapshot of the state before the restore');
    ok(k('restore', 's1', kept.name, '--yes'));
    assert.equal(inGuest('cat /root/data'), 'newer');
    ok(k('snapshot-rm', 's1', kept.name));
  });

  it('refuses what cannot work, exit 2, naming why', () => {
    const cases: [string[], RegExp][] = [
      [['restore', 's1', 'nope', '--yes'], /s1 has no snapshot named nope[\s\S]*its snapshots: golden/],
      [['snapshot', 's1', '--name', 'golden'], /already exists on s1/],
      [['snapshot', 's1', '--name', '42'], /all digits/],
      [['snapshot', 's1', '--name', '../x'], /--name/],
      [['snapshot', 'r1'], /r1 cannot be snapshotted: its root is in RAM/],
      [['snapshot-rm', 's1', 'nope'], /no snapshot named nope/],
      [['snapshot', 'zz9'], /no VM named "zz9"/],
    ];
    for (const [args, message] of cases) {
      const r = k(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
  });

  it('snapshots and restores offline with the guest stopped; the next boot sees the restored disk', () => {
    inGuest('echo cold > /root/cold; sync');
    ok(k('stop', 's1', '--quiet'));
    const made = json(k('snapshot', 's1', '--name', 'cold', '--json'));
    assert.equal(made[0].how, 'offline');
    assert.equal(list().find((s) => s.name === 'cold')!.vmStateSize, 0, 'an offline snapshot is disk only');
    ok(k('boot', 's1', '--quiet'));
    inGuest('rm /root/cold; sync');
    // A disk-only snapshot has no VM state to load into the running guest.
    const live = k('restore', 's1', 'cold', '--yes');
    assert.equal(live.status, 2);
    assert.match(live.stderr, /no VM state to load/);
    ok(k('stop', 's1', '--quiet'));
    assert.equal(json(k('restore', 's1', 'cold', '--yes', '--json'))[0].how, 'offline');
    ok(k('boot', 's1', '--quiet'));
    assert.equal(inGuest('cat /root/cold'), 'cold');
  });

  it('leaves a disk that qemu-img check passes, and no QEMU of its own after stop', () => {
    ok(k('stop', 's1', '--quiet'));
    const disk = join(lab.home, 'snaps', 's1', 'root.qcow2');
    execFileSync('qemu-img', ['check', '-q', disk]);
    assert.deepEqual(qemusUnder(lab.home), []);
  });
});
