// A guest inside a guest, for real: up (host → l1 → l2), every layer reached by name,
// the child's accelerator as its own kernel reports it, a child killed inside its parent,
// up again (idempotent), down, and no QEMU of ours left on the host.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kit } from '../helpers/cli.ts';
import { qemusUnder } from '../helpers/vm.ts';
import { tinyNestVm } from '../helpers/spec-lab.ts';

describe('a nested lab', () => {
  let home: string;
  let spec: string;
  const k = (...args: string[]) => kit(['--spec', spec, ...args], { env: { GRAINCHART_HOME: home } });
  // Longer than the kit's own budget for a child (300 s inside a parent), so a boot that
  // fails there reports its stage and serial console instead of being killed by the test.
  const up = () => kit(['--spec', spec, 'up', '--json'], { env: { GRAINCHART_HOME: home }, timeoutMs: 420_000 });
  const ok = (r: ReturnType<typeof kit>) => {
    assert.equal(r.status, 0, r.stderr);
    return r;
  };
  const json = (r: ReturnType<typeof kit>) => JSON.parse(ok(r).stdout);
  /** up/down --json are JSON Lines: a step per VM as it happens, then the done record. */
  const jsonLines = (r: ReturnType<typeof kit>) =>
    ok(r)
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l));
  const done = (r: ReturnType<typeof kit>) => {
    const lines = jsonLines(r);
    const last = lines.at(-1);
    assert.equal(last.event, 'done');
    assert.deepEqual(
      lines.slice(0, -1).map((l) => [l.event, l.vm]),
      last.steps.map((s: { vm: string }) => ['step', s.vm]),
    );
    return last;
  };

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'gc-nest-'));
    spec = join(home, 'nest.json');
    writeFileSync(
      spec,
      JSON.stringify({
        name: 'nesttest',
        vms: [await tinyNestVm('n1', 'n2')],
      }),
    );
  });
  after(() => {
    kit(['--spec', spec, 'down', '--force'], { env: { GRAINCHART_HOME: home } });
    for (const pid of qemusUnder(home)) process.kill(pid, 'SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  it('comes up parents first, the child inside its parent', () => {
    const r = done(up());
    assert.deepEqual(
      r.steps.map((s: { vm: string; action: string; parent?: string }) => [s.vm, s.action, s.parent ?? '(host)']),
      [
        ['n1', 'booted', '(host)'],
        ['n2', 'booted', 'n1'],
      ],
    );
    assert.deepEqual(qemusUnder(home).length, 1, 'only n1 runs on the host; n2 runs inside n1');
  });

  it('lists both layers with their parents in status --json', () => {
    const rows = json(k('status', '--json'));
    assert.deepEqual(
      rows.map((r: { name: string; state: string; parent?: string; depth: number }) => [r.name, r.state, r.parent ?? null, r.depth]),
      [
        ['n1', 'running', null, 1],
        ['n2', 'running', 'n1', 2],
      ],
    );
  });

  it('runs commands in each layer, and the child’s kernel names the accelerator status reports', () => {
    assert.equal(ok(k('exec', 'n1', '--', 'cat /proc/sys/kernel/hostname')).stdout, 'n1\n');
    assert.equal(ok(k('exec', 'n2', '--', 'cat /proc/sys/kernel/hostname')).stdout, 'n2\n');
    const hv = ok(k('exec', 'n2', '--', "dmesg | sed -n 's/.*Hypervisor detected: //p'")).stdout.trim();
    const n2 = json(k('status', '--json')).find((r: { name: string }) => r.name === 'n2');
    assert.equal(hv === 'KVM', n2.accel === 'kvm', `dmesg says "${hv}", status says ${n2.accel}`);
    // Here the host's KVM is paravirtual, so n1 runs TCG with -cpu max, whose svm lets n2 use KVM.
    if (existsSync('/sys/module/kvm_pvm')) assert.equal(n2.accel, 'kvm');
    const code = k('exec', 'n2', '--', 'exit 9');
    assert.equal(code.status, 9);
  });

  it('charts all three layers: tree, alloc, topology and chart-vm, each with --json', () => {
    const tree = json(k('tree', '--json'));
    assert.deepEqual(
      tree.vms.map((v: { name: string; parent?: string; state: string }) => [v.name, v.parent ?? null, v.state]),
      [
        ['n1', null, 'running'],
        ['n2', 'n1', 'running'],
      ],
    );
    assert.match(ok(k('tree')).stdout, /^this machine \(host\).*\n└─ n1 .*running.*\n {3}└─ n2 .*nested VM.*running/);
    const alloc = json(k('alloc', '--json'));
    assert.deepEqual(
      alloc.memory.map((m: { name: string; parent?: string }) => [m.name, m.parent ?? null]),
      [
        ['n1', null],
        ['n2', 'n1'],
      ],
    );
    const topo = json(k('topology', '--json'));
    assert.deepEqual(
      topo.vms.map((v: { name: string; parent?: string }) => [v.name, v.parent ?? null]),
      [
        ['n1', null],
        ['n2', 'n1'],
      ],
    );
    assert.match(ok(k('topology')).stdout, /n2 \(nested in n1\)/);
    const cards = json(k('chart-vm', '--json'));
    assert.deepEqual(
      cards.map((c: { name: string; depth: number }) => [c.name, c.depth]),
      [
        ['n1', 1],
        ['n2', 2],
      ],
    );
    for (const c of cards)
      for (const source of ['host', 'qmp', 'disk', 'guest', 'network']) assert.equal(c[source].ok, true, `${c.name} ${source}: ${c[source].reason}`);
    assert.match(ok(k('chart-vm')).stdout, /Layer 1: on the host[\s\S]*Layer 2: nested[\s\S]*n2 .*nested VM in n1/);
  });

  it('snapshots the whole lab under one stamp (the child inside its parent) and restores it live', () => {
    ok(k('exec', 'n1', '--', 'echo parent > /root/mark; sync'));
    ok(k('exec', 'n2', '--', 'echo child > /root/mark; sync'));
    const made = json(k('snapshot', 'nesttest', '--json'));
    // Children first, so the parent's snapshot holds the child's.
    assert.deepEqual(
      made.map((s: { vm: string; how: string }) => [s.vm, s.how]),
      [
        ['n2', 'live'],
        ['n1', 'live'],
      ],
    );
    const name = made[0].name;
    assert.equal(made[1].name, name);
    const listed = json(k('snapshots', 'nesttest', '--json'));
    assert.deepEqual(listed.map((s: { vm: string; name: string }) => [s.vm, s.name]).sort(), [
      ['n1', name],
      ['n2', name],
    ]);
    for (const vm of ['n1', 'n2']) ok(k('exec', vm, '--', 'rm /root/mark; sync'));
    const restored = json(k('restore', 'nesttest', name, '--yes', '--json'));
    assert.deepEqual(
      restored.map((s: { vm: string; how: string }) => [s.vm, s.how]),
      [
        ['n1', 'live'],
        ['n2', 'live'],
      ],
    );
    assert.equal(ok(k('exec', 'n1', '--', 'cat /root/mark')).stdout.trim(), 'parent');
    assert.equal(ok(k('exec', 'n2', '--', 'cat /root/mark')).stdout.trim(), 'child');
    assert.deepEqual(
      json(k('status', '--json')).map((r: { name: string; state: string }) => [r.name, r.state]),
      [
        ['n1', 'running'],
        ['n2', 'running'],
      ],
    );
  });

  it('documents the running lab: both layers running, with live stats', () => {
    const out = join(home, 'doc');
    const r = json(k('doc', '--out', out, '--json'));
    assert.equal(r.running, 2);
    const md = readFileSync(join(out, 'nesttest.md'), 'utf8');
    assert.match(md, /## n1\n\nState: \*\*running\*\*, accelerator tcg\. CPU \d+% busy · memory [\d.]+ \w+ used of/);
    assert.match(md, /## n2\n\nState: \*\*running\*\* \(nested in n1\), accelerator kvm\. CPU \d+% busy/);
    assert.match(md, /QEMU runs inside n1; KVM usable: /);
  });

  it('reports the child crashed when its QEMU dies inside the parent, while the parent runs on', () => {
    ok(k('exec', 'n1', '--', 'kill -9 $(cat /var/lib/grainchart/vms/nesttest/n2/qemu.pid)'));
    const rows = json(k('status', '--json'));
    assert.equal(rows[0].state, 'running');
    assert.equal(rows[1].state, 'crashed');
    assert.match(rows[1].reason, /gone inside n1/);
  });

  it('up again keeps the running parent and brings the child back', () => {
    const r = done(up());
    assert.deepEqual(
      r.steps.map((s: { vm: string; action: string }) => [s.vm, s.action]),
      [
        ['n1', 'kept'],
        ['n2', 'booted'],
      ],
    );
    assert.equal(ok(k('exec', 'n2', '--', 'echo back')).stdout, 'back\n');
  });

  it('goes down children first and leaves no QEMU of its own', () => {
    const r = done(k('down', '--json'));
    assert.deepEqual(
      r.steps.map((s: { vm: string }) => s.vm),
      ['n2', 'n1'],
    );
    assert.deepEqual(qemusUnder(home), []);
    const rows = json(k('status', '--json'));
    assert.deepEqual(
      rows.map((x: { state: string }) => x.state),
      ['stopped', 'stopped'],
    );
    assert.deepEqual(
      done(k('down', '--json')).steps.map((s: { how: string }) => s.how),
      ['already-stopped', 'already-stopped'],
    );
  });
});
