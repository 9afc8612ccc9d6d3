// Two kit processes on one lab at once: the lab's lock makes the second wait (and say for
// whom), so the state stays whole — up + up boots once, up + down ends down, snapshot +
// restore run one after the other.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { kit, succeeded } from '../helpers/cli.ts';
import { qemusUnder, tinyLab, type TestLab } from '../helpers/vm.ts';
import { kitInBackground } from '../helpers/spawn.ts';
import { lockHolder } from '../../tasks/lab/lock.ts';
import { poll } from '../../tasks/util/retry.ts';

describe('two kit processes on one lab', () => {
  let lab: TestLab;
  const k = (...args: string[]) => kit(['--spec', lab.spec, ...args], { env: lab.env });
  const bg = (...args: string[]) => kitInBackground(['--spec', lab.spec, ...args], lab.env);
  const lastLine = (s: string) => JSON.parse(s.trim().split('\n').at(-1)!);

  before(async () => {
    lab = await tinyLab('busy', [{ name: 'c1' }]);
  });
  after(() => {
    k('down', '--force');
    lab.cleanup();
  });

  it('up + up: one boots, the other waits, then keeps it', async () => {
    const a = bg('up', '--json');
    await new Promise((r) => setTimeout(r, 300));
    const b = bg('up', '--json');
    const [ra, rb] = await Promise.all([a.done, b.done]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    const actions = [lastLine(ra.stdout), lastLine(rb.stdout)].map((d) => d.steps[0].action).sort();
    assert.deepEqual(actions, ['booted', 'kept']);
    assert.match(ra.stderr + rb.stderr, /lab busy is busy: waiting for `up` \(pid \d+/);
    assert.equal(qemusUnder(lab.home).length, 1);
  });

  it('snapshot + restore: one after the other, both succeed', async () => {
    succeeded(k('snapshot', 'c1', '--name', 'one'));
    const s = bg('snapshot', 'c1', '--name', 'two');
    await new Promise((r) => setTimeout(r, 300));
    const r = bg('restore', 'c1', 'one', '--yes');
    const [rs, rr] = await Promise.all([s.done, r.done]);
    assert.equal(rs.code, 0, rs.stderr);
    assert.equal(rr.code, 0, rr.stderr);
    const names = JSON.parse(k('snapshots', 'c1', '--json').stdout).map((x: { name: string }) => x.name);
    assert.deepEqual(names, ['one', 'two']);
  });

  it('up + down: the down waits for the up and wins; nothing is left running', async () => {
    succeeded(k('down', '--force'));
    const u = bg('up');
    // The down starts once the up holds the lock: a head start in time alone loses to a busy host.
    assert.ok(
      await poll(async () => lockHolder('busy', lab.home)?.task === 'up', { what: 'the up to take the lock', timeoutMs: 30_000, intervalMs: 20 }),
      'the up never took the lab’s lock',
    );
    const d = bg('down', '--force');
    const [ru, rd] = await Promise.all([u.done, d.done]);
    assert.equal(ru.code, 0, ru.stderr);
    assert.equal(rd.code, 0, rd.stderr);
    assert.match(rd.stderr, /waiting for `up`/);
    assert.deepEqual(qemusUnder(lab.home), []);
    assert.equal(JSON.parse(k('status', '--json').stdout)[0].state, 'stopped');
  });
});
