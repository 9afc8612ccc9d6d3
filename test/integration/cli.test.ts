import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kit, TASKS } from '../helpers/cli.ts';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';
import { classifyKvm, readKvmFacts } from '../../tasks/qemu/host-probe.ts';
import { libvirtChecks } from '../../tasks/cmd/doctor.ts';

describe('tasks.ts as a command', () => {
  it('lists the public tasks', () => {
    for (const args of [[], ['tasks']]) {
      const r = kit(args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^The following tasks are available:/);
      assert.match(r.stdout, /^disk-create\s+Create a VM's disk image/m);
      assert.match(r.stdout, /^doctor\s+Check this host/m);
    }
  });

  it('says No such task and exits 1', () => {
    const r = kit(['nope']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^No such task: nope$/m);
  });

  it('prints a task’s help', () => {
    const r = kit(['disk-create', '--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^Usage: npx tsx tasks.ts disk-create VM \[options\]/);
    assert.match(r.stdout, /--force/);
  });

  it('prints a top-level VM as a libvirt domain (XML, or JSON with it), and refuses a nested one, exit 2', () => {
    const xml = kit(['libvirt-xml', 'l1']);
    assert.equal(xml.status, 0, xml.stderr);
    assert.match(xml.stdout, /^<domain type='(kvm|qemu)' xmlns:qemu='http:\/\/libvirt.org\/schemas\/domain\/qemu\/1.0'>\n {2}<name>grainchart-demo-l1<\/name>/);
    const json = JSON.parse(kit(['libvirt-xml', 'l1', '--json']).stdout);
    assert.equal(json.domain, 'grainchart-demo-l1');
    assert.equal(json.xml.trimEnd(), xml.stdout.trimEnd());
    const nested = kit(['libvirt-xml', 'l2']);
    assert.equal(nested.status, 2);
    assert.match(nested.stderr, /l2 runs inside l1: only a lab's top-level VMs become libvirt domains/);
    assert.match(kit(['libvirt-xml', '--help']).stdout, /^Usage: npx tsx tasks.ts libvirt-xml VM/);
  });

  it('loads no zx, ssh2, listr2 or zod to list tasks (and the trace does see zod when a task needs it)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gc-trace-'));
    try {
      const listing = join(dir, 'listing.txt');
      const preload = join(PROJECT_ROOT, 'test/helpers/trace-loads.mjs');
      assert.equal(kit(['tasks'], { env: { GC_TRACE_FILE: listing }, preload: [preload] }).status, 0);
      const loaded = readFileSync(listing, 'utf8');
      assert.match(loaded, /tasks\/cli\/main\.ts/);
      for (const heavy of ['node_modules/zx/', 'node_modules/ssh2/', 'node_modules/listr2/', 'node_modules/zod/'])
        assert.ok(!loaded.includes(heavy), `listing loaded ${heavy}`);
      const info = join(dir, 'info.txt');
      kit(['disk-info', 'nixos-test'], { env: { GC_TRACE_FILE: info, HOME: dir }, preload: [preload] });
      assert.match(readFileSync(info, 'utf8'), /node_modules\/zod\//);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('round-trips a spec through a pipeline: spec --json | spec --spec - --json', () => {
    const r = spawnSync(
      'sh',
      ['-c', `"${process.execPath}" --import tsx "${TASKS}" spec nixos-sway --json | "${process.execPath}" --import tsx "${TASKS}" spec --spec - --json`],
      {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const direct = kit(['spec', 'nixos-sway', '--json']);
    assert.equal(r.stdout, direct.stdout);
    const lab = JSON.parse(r.stdout);
    assert.equal(lab.vms[0].children[0].name, 'debian');
    assert.equal(lab.vms[0].memory, 8192);
  });

  it('rejects a bad spec on stdin with exit 2 and the field path', () => {
    const r = kit(['spec', '--spec', '-'], { input: JSON.stringify({ name: 'x', vms: [{ name: 'a', memory: 'huge', boot: { iso: 'x.iso' } }] }) });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /vms\[0\]\.memory: expected a size/);
    const notJson = kit(['spec', '--spec', '-'], { input: 'name: x' });
    assert.equal(notJson.status, 2);
    assert.match(notJson.stderr, /stdin \(--spec -\): is not valid JSON/);
  });

  it('every lab in specs/ validates', () => {
    const labs = JSON.parse(kit(['labs', '--json']).stdout) as string[];
    assert.deepEqual(labs, ['debian-nest', 'demo', 'nixos-sway', 'nixos-test']);
    for (const lab of labs) assert.equal(kit(['spec', lab, '--json']).status, 0, lab);
  });
});

describe('doctor on this machine', () => {
  it('reports the KVM verdict the probe reaches, and TCG as the fallback when KVM is unusable', () => {
    const r = kit(['doctor', '--json']);
    assert.ok(r.status === 0 || r.status === 1, r.stderr);
    const { checks } = JSON.parse(r.stdout) as { checks: Array<{ status: string; name: string; detail: string }> };
    const kvm = checks.find((c) => c.name === 'kvm')!;
    const expected = classifyKvm(readKvmFacts('/'));
    assert.ok(kvm.detail.startsWith(expected.state), kvm.detail);
    if (existsSync('/sys/module/kvm_pvm')) {
      // This kind of machine: paravirtual KVM, never trusted.
      assert.equal(kvm.status, 'WARN');
      assert.match(kvm.detail, /^unusable: kvm_pvm.*TCG/);
      const human = kit(['doctor']);
      assert.match(human.stdout, /^WARN kvm\s+unusable: kvm_pvm/m);
    }
    const qemu = checks.find((c) => c.name === 'qemu-system-x86_64')!;
    assert.equal(qemu.status, 'OK', 'run scripts/setup-host.sh to install QEMU');
  });

  it('reports libvirt as it answers on qemu:///system (the tests set it up and start it), and says when it does not', () => {
    const r = kit(['doctor', '--json']);
    const { checks, libvirt } = JSON.parse(r.stdout) as {
      checks: Array<{ status: string; name: string; detail: string; hint?: string }>;
      libvirt: { daemon?: string };
    };
    const line = checks.find((c) => c.name === 'libvirt')!;
    const version = spawnSync('virsh', ['-c', 'qemu:///system', 'version'], { encoding: 'utf8' });
    assert.equal(version.status, 0, `libvirtd should answer here (npm test's pretest starts it): ${version.stderr}`);
    assert.equal(line.status, 'OK', line.detail);
    assert.equal(libvirt.daemon, /Using library: libvirt (\S+)/.exec(version.stdout)?.[1]);
    assert.match(line.detail, new RegExp(`^${libvirt.daemon!.replace(/\./g, '\\.')} answers at qemu:///system \\(QEMU [\\d.]+\\); pool grainchart: `));
    // A connection nothing answers on, the same pure lines doctor prints.
    const none = libvirtChecks({
      uri: 'qemu:///system',
      virsh: true,
      error: "Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory",
      kvmRootOnly: false,
    });
    assert.deepEqual(
      none.map((c) => [c.status, c.name]),
      [['WARN', 'libvirt']],
    );
    assert.match(none[0]!.detail, /^does not answer at qemu:\/\/\/system: Failed to connect socket/);
    assert.match(none[0]!.hint!, /setup-host\.sh --libvirt/);
    const rootOnly = libvirtChecks({ uri: 'qemu:///system', virsh: true, daemon: '9.0.0', kvmRootOnly: true });
    assert.deepEqual(
      rootOnly.map((c) => [c.status, c.name]),
      [
        ['OK', 'libvirt'],
        ['WARN', 'libvirt kvm'],
      ],
    );
  });
});
