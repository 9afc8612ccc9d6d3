// Suspending and resuming a whole nested lab by snapshot — the way where a VM's RAM is not in
// a file (suspend-ram.test.ts has the RAM-file way, the default), each layer asked over SSH
// after the resume (suspend-ram.test.ts: through the port shells, the default) — for real
// (host → s1 → s2): a file written in
// the child before the suspend is there after, no QEMU of the lab runs while it is
// suspended, every layer's clock is the host's again, nothing is discarded without --yes;
// QEMU killed during a suspend leaves a lab that boots cold; and `up --from` starts a
// stopped lab from a lab-wide snapshot.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { TASKS } from '../helpers/cli.ts';
import { specLab, tinyNestVm } from '../helpers/spec-lab.ts';
import { qemusUnder } from '../helpers/vm.ts';
import { assertClockWithin } from '../helpers/clock.ts';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';

describe('suspend and resume a nested lab by snapshot (RAM not in a file)', () => {
  const lab = specLab(
    'gc-susp-',
    async () => ({
      name: 'susptest',
      vms: [await tinyNestVm('s1', 's2')],
    }),
    // The other way of each: the RAM not in a file, and the layers asked over SSH (not through the port shells).
    { GRAINCHART_RAM_FILES: '0', GRAINCHART_PORT_SHELL: '0' },
  );
  const { k, ok, json, states } = lab;
  before(() => ok(k('up')));

  it('suspends the whole tree: no QEMU of the lab left, every VM suspended, the save listed as a snapshot', () => {
    ok(k('exec', 's2', '--', 'echo before-suspend > /root/mark; sync'));
    const r = json(k('suspend', '--json'));
    assert.deepEqual(
      r.steps.map((s: { vm: string }) => s.vm),
      ['s1'],
    );
    const name = r.steps[0].snapshot as string;
    assert.match(name, /^1\d{4}-\d{2}-\d{2}--\d{4}--/, 'named by graintime');
    assert.deepEqual(qemusUnder(lab.home), [], 'a QEMU of the lab still runs');
    assert.deepEqual(states(), [
      ['s1', 'suspended'],
      ['s2', 'suspended'],
    ]);
    const snaps = json(k('snapshots', 's1', '--json')).map((s: { name: string; vmStateSize: number }) => [s.name, s.vmStateSize > 0]);
    assert.deepEqual(snaps, [[name, true]]);
  });

  it('refuses to discard the saved state without --yes (down, stop, boot --fresh), changing nothing', () => {
    for (const args of [['down'], ['stop', 's1'], ['boot', 's1', '--fresh']]) {
      const r = k(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /lab susptest is suspended \(saved as .*\); .* discards that state; not doing that without --yes/);
      assert.match(r.stderr, /resume it instead/);
    }
    assert.deepEqual(states(), [
      ['s1', 'suspended'],
      ['s2', 'suspended'],
    ]);
  });

  it('resumes every layer: the child’s file is there, its clock is the host’s, exec works, the save is removed', () => {
    const r = json(k('resume', '--json'));
    assert.deepEqual(
      r.layers.map((l: { vm: string; via: string }) => [l.vm, l.via]),
      [
        ['s1', 'ssh'],
        ['s2', 'ssh'],
      ],
    );
    assert.deepEqual(states(), [
      ['s1', 'running'],
      ['s2', 'running'],
    ]);
    assert.equal(ok(k('exec', 's2', '--', 'cat /root/mark')).stdout.trim(), 'before-suspend');
    for (const vm of ['s1', 's2']) assertClockWithin(vm, () => ok(k('exec', vm, '--', 'date +%s')).stdout, 2);
    assert.deepEqual(json(k('snapshots', 's1', '--json')), [], 'the saved state was not removed after a good resume');
  });

  it('up on a suspended lab says it resumes, and does; --keep leaves the save as a snapshot', () => {
    const name = json(k('suspend', '--json')).steps[0].snapshot as string;
    const r = ok(k('up', '--json'));
    assert.match(r.stderr, /susptest is suspended: resuming it/);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(lines[0], { event: 'resumed', lab: 'susptest', vm: 's1', snapshot: name, seconds: lines[0].seconds });
    assert.deepEqual(
      lines.at(-1).steps.map((s: { vm: string; action: string }) => [s.vm, s.action]),
      [
        ['s1', 'kept'],
        ['s2', 'kept'],
      ],
    );
    const kept = json(k('suspend', '--json')).steps[0].snapshot as string;
    ok(k('resume', '--keep'));
    assert.deepEqual(
      json(k('snapshots', 's1', '--json')).map((s: { name: string }) => s.name),
      [kept],
    );
    ok(k('snapshot-rm', 's1', kept));
  });

  it('QEMU killed during a suspend: the lab is not marked suspended, its disk passes qemu-img check, and up boots it cold', async () => {
    const pid = qemusUnder(lab.home)[0]!;
    const child = spawn(process.execPath, ['--import', 'tsx', TASKS, '--spec', lab.spec, 'suspend'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...lab.env },
    });
    let err = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        // The save has begun: kill the QEMU under it.
        if (/live snapshot/.test(err)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone already */
          }
        }
      });
      child.on('exit', resolve);
    });
    assert.notEqual(code, 0, `suspend succeeded although its QEMU was killed:\n${err}`);
    assert.match(err, /live snapshot/, 'the kill came before the save began');
    assert.notDeepEqual(states()[0], ['s1', 'suspended']);
    const check = spawnSync('qemu-img', ['check', join(lab.home, 'susptest', 's1', 'root.qcow2')], { encoding: 'utf8' });
    // 0: clean; 3: only leaked clusters (space, "no harm to data"); 2 would be corruption.
    assert.ok(check.status === 0 || check.status === 3, `qemu-img check: exit ${check.status}\n${check.stdout}${check.stderr}`);
    const up = ok(k('up', '--json'))
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .at(-1);
    assert.deepEqual(
      up.steps.map((s: { vm: string; action: string }) => [s.vm, s.action]),
      [
        ['s1', 'booted'],
        ['s2', 'booted'],
      ],
    );
  });

  it('up --from starts the stopped lab from a lab-wide snapshot, which stays', () => {
    ok(k('exec', 's2', '--', 'echo golden > /root/mark; sync'));
    const name = json(k('snapshot', 'susptest', '--json'))[0].name as string;
    ok(k('exec', 's2', '--', 'echo later > /root/mark; sync'));
    ok(k('down'));
    const refused = k('up', '--from', 'no-such-snapshot');
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /s1 has no snapshot named no-such-snapshot/);
    ok(k('up', '--from', name));
    assert.equal(ok(k('exec', 's2', '--', 'cat /root/mark')).stdout.trim(), 'golden');
    assert.ok(
      json(k('snapshots', 's1', '--json')).some((s: { name: string }) => s.name === name),
      'the golden snapshot was removed',
    );
  });
});
