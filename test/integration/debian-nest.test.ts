// Real distributions in both layers, for real: the committed `debian-nest` lab (a Debian with
// QEMU on this host, Debian Stable and a tiny guest inside it) comes up with the children's
// images handed to the parent as read-only disks; every layer answers by name; the Debian
// child runs under KVM (the parent's emulated SVM); a file written in the child survives a
// lab-wide snapshot and restore, and a suspend and resume; down leaves no QEMU of ours.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kit } from '../helpers/cli.ts';
import { freePort, qemusUnder } from '../helpers/vm.ts';
import { assertClockWithin } from '../helpers/clock.ts';

describe('a real Debian nested in a real Debian', () => {
  let home: string;
  let spec: string;
  const env = () => ({ GRAINCHART_HOME: home });
  // Under TCG on a loaded 2-core machine a Debian parent takes ~1 min and its Debian child ~2.
  const k = (args: string[], timeoutMs = 180_000) => kit(['--spec', spec, ...args], { env: env(), timeoutMs });
  const ok = (r: ReturnType<typeof kit>) => {
    assert.equal(r.status, 0, `${r.stderr}\n${r.stdout}`);
    return r;
  };
  const out = (vm: string, cmd: string) => ok(k(['exec', vm, '--', cmd])).stdout.trim();

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'gc-debnest-'));
    // The committed lab as `spec` resolves it, on a port and in a state folder of this test's own.
    const lab = JSON.parse(ok(kit(['spec', 'debian-nest', '--json'], { env: env() })).stdout);
    lab.name = 'dntest';
    lab.vms[0].network.sshPort = await freePort();
    spec = join(home, 'dntest.json');
    writeFileSync(spec, JSON.stringify(lab));
  });
  after(() => {
    k(['down', '--force'], 300_000);
    for (const pid of qemusUnder(home)) process.kill(pid, 'SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  it('comes up: the parent on this host, both children inside it, each under its own accelerator', () => {
    const lines = ok(k(['up', '--json', '--quiet'], 1_500_000))
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const done = lines.at(-1);
    assert.equal(done.event, 'done');
    assert.deepEqual(
      done.steps.map((s: { vm: string; action: string }) => [s.vm, s.action]),
      [
        ['nest', 'booted'],
        ['stable', 'booted'],
        ['tiny', 'booted'],
      ],
    );
    const rows = JSON.parse(ok(k(['status', '--json'])).stdout);
    assert.deepEqual(
      rows.map((r: { name: string; state: string; parent?: string }) => [r.name, r.state, r.parent ?? null]),
      [
        ['nest', 'running', null],
        ['stable', 'running', 'nest'],
        ['tiny', 'running', 'nest'],
      ],
    );
    // Children use KVM inside the parent: TCG's -cpu max exposes svm, the parent loads kvm_amd.
    assert.deepEqual(
      rows.slice(1).map((r: { accel: string }) => r.accel),
      ['kvm', 'kvm'],
    );
  });

  it('hands the children’s images to the parent as read-only disks: the child’s overlay backs onto the device', () => {
    const backing = out(
      'nest',
      'qemu-img info -U --output=json /var/lib/grainchart/vms/dntest/stable/root.qcow2 | sed -n \'s/.*"backing-filename": "\\(.*\\)".*/\\1/p\'',
    );
    assert.match(backing, /^\/var\/lib\/grainchart\/carry\/gc-[0-9a-f]{16}$/);
    assert.match(out('nest', `readlink ${backing}`), /^\/dev\/vd[b-z]$/);
  });

  it('answers in every layer by name: Debian in both, systemd up, the child under KVM', () => {
    assert.equal(out('nest', 'hostname'), 'nest');
    assert.equal(out('stable', 'hostname'), 'stable');
    assert.equal(out('tiny', 'hostname'), 'tiny');
    assert.match(out('nest', 'cat /etc/debian_version'), /^12\./);
    assert.match(out('stable', 'cat /etc/debian_version'), /^12\./);
    assert.match(out('stable', 'systemctl is-system-running --wait'), /^(running|degraded)$/);
    assert.equal(out('stable', 'dmesg | grep -m1 -o "Hypervisor detected: KVM"'), 'Hypervisor detected: KVM');
  });

  it('charts every layer from its machine, and draws the tree and an OpenSSH config through the parent', () => {
    const cards = JSON.parse(ok(k(['chart-vm', '--json'])).stdout);
    for (const c of cards) for (const source of ['host', 'qmp', 'disk']) assert.equal(c[source].ok, true, `${c.name} ${source}: ${c[source].reason}`);
    assert.ok(cards.find((c: { name: string }) => c.name === 'stable').host.value.rssMiB > 100);
    assert.match(ok(k(['ssh-config'])).stdout, /Host stable\n[\s\S]*ProxyJump nest/);
    assert.match(ok(k(['tree'])).stdout, /stable/);
  });

  it('keeps a file written in the child through a lab-wide snapshot and restore', () => {
    out('stable', 'echo before > /root/marker && sync');
    ok(k(['snapshot', 'dntest', '--name', 'golden', '--quiet'], 600_000));
    assert.equal(out('stable', 'echo after > /root/marker && sync && cat /root/marker'), 'after');
    ok(k(['restore', 'dntest', 'golden', '--yes', '--quiet'], 600_000));
    assert.equal(out('stable', 'cat /root/marker'), 'before');
    assert.equal(out('tiny', 'hostname'), 'tiny');
  });

  it('suspends the whole lab and resumes it through the port shells: no QEMU while suspended, the child’s file kept, every clock set', () => {
    out('stable', 'echo suspended > /root/marker && sync');
    const saved = JSON.parse(ok(k(['suspend', 'dntest', '--json'], 600_000)).stdout);
    assert.deepEqual(
      saved.steps.map((s: { vm: string }) => s.vm),
      ['nest'],
    );
    assert.deepEqual(qemusUnder(home), [], 'the parent’s QEMU ended, and the children with it');
    const rows = JSON.parse(ok(k(['status', '--json'])).stdout);
    assert.deepEqual(
      rows.map((r: { name: string; state: string }) => [r.name, r.state]),
      [
        ['nest', 'suspended'],
        ['stable', 'suspended'],
        ['tiny', 'suspended'],
      ],
    );
    const resumed = JSON.parse(ok(k(['resume', 'dntest', '--json'], 600_000)).stdout);
    // Every layer asked through its port shell (systemd runs it in the Debian images), the children through the parent's.
    assert.deepEqual(
      resumed.layers.map((l: { vm: string; via: string }) => [l.vm, l.via]),
      [
        ['nest', 'port-shell'],
        ['stable', 'port-shell'],
        ['tiny', 'port-shell'],
      ],
    );
    assert.equal(out('stable', 'cat /root/marker'), 'suspended');
    for (const vm of ['nest', 'stable', 'tiny']) assertClockWithin(vm, () => out(vm, 'date +%s'), 2);
  });

  it('goes down children first and leaves no QEMU of its own', () => {
    const steps = JSON.parse(
      ok(k(['down', '--json'], 300_000))
        .stdout.trim()
        .split('\n')
        .at(-1)!,
    ).steps;
    assert.deepEqual(steps.map((s: { vm: string }) => s.vm).slice(-1), ['nest']);
    assert.deepEqual(qemusUnder(home), []);
    const rows = JSON.parse(ok(k(['status', '--json'])).stdout);
    assert.deepEqual(
      rows.map((r: { state: string }) => r.state),
      ['stopped', 'stopped', 'stopped'],
    );
  });
});
