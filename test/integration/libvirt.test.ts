// A lab handed to this host's libvirtd (host.libvirt.uri qemu:///system), for real: l1 is a
// libvirt domain that virsh lists, defined from the kit's own plan with its files in the
// `grainchart` pool, and l2 nests inside it through the same machine seam as inside any
// parent.  Charts, snapshots and restores read l1's QEMU as they read one of the kit's own.
// `down` shuts the domain off and keeps it defined (a second `up` boots the same disk again);
// `down --undefine` removes the domain and its folder in the pool.  npm test's pretest installs
// and starts libvirtd (scripts/setup-host.sh --libvirt).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { specLab, tinyNestVm } from '../helpers/spec-lab.ts';
import { poolDir } from '../../tasks/machine/libvirt/pool.ts';

const DOMAIN = 'grainchart-lvtest-l1';
const ROOT = `${DOMAIN}-root.qcow2`;
const virsh = (...args: string[]) => spawnSync('virsh', ['-c', 'qemu:///system', ...args], { encoding: 'utf8' });
const domstate = () => virsh('domstate', DOMAIN).stdout.trim();

describe('a lab on libvirt (qemu:///system)', () => {
  const lab = specLab('gc-libvirt-', async () => ({
    name: 'lvtest',
    host: { libvirt: { uri: 'qemu:///system' } },
    vms: [await tinyNestVm('l1', 'l2', { title: 'libvirt L1', checks: ['ssh', 'kvm', 'child-reachable'] })],
  }));
  const { k, ok, json, states } = lab;
  const folder = `${poolDir()}/vms/lvtest/l1`;
  // After specLab's own down: whatever a failed test left defined.
  after(() => {
    virsh('destroy', DOMAIN);
    virsh('undefine', DOMAIN);
    rmSync(`${poolDir()}/vms/lvtest`, { recursive: true, force: true });
    virsh('vol-delete', '--pool', 'grainchart', ROOT);
  });

  it('up boots l1 as a libvirt domain from the pool, and l2 inside it', () => {
    const before = spawnSync('virsh', ['-c', 'qemu:///system', 'version']);
    assert.equal(before.status, 0, `libvirtd does not answer: ${before.stderr} (bash scripts/setup-host.sh --libvirt starts it)`);
    ok(k('up'));
    assert.equal(domstate(), 'running');
    assert.deepEqual(states(), [
      ['l1', 'running'],
      ['l2', 'running'],
    ]);
    // The QEMU the kit reads is the one libvirt runs for the domain.
    const pid = json(k('status', '--json')).find((r: { name: string }) => r.name === 'l1').pid;
    assert.equal(Number(readFileSync(`/run/libvirt/qemu/${DOMAIN}.pid`, 'utf8')), pid);
    // The guest's hardware is the kit's own QEMU's: every device on the root bus, none behind
    // a PCIe root port of libvirt's (a guest would see a second bus).
    assert.doesNotMatch(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /pcie-root-port/);
    const devices = ok(k('exec', 'l1', '--', 'ls /sys/bus/pci/devices'))
      .stdout.split(/\s+/)
      .filter(Boolean);
    assert.ok(devices.length >= 5, devices.join(' '));
    assert.deepEqual(
      devices.filter((d) => !d.startsWith('0000:00:')),
      [],
      'a PCI device of l1 is not on its root bus',
    );
    const xml = virsh('dumpxml', DOMAIN).stdout;
    assert.match(xml, /<title>libvirt L1<\/title>/);
    // Its root disk is a volume of the pool, backed by the image's volume there: libvirt's QEMU user cannot read the kit's cache in /root.
    assert.match(xml, new RegExp(`<disk type='volume' device='disk'>\\s*<driver name='qemu' type='qcow2'/>\\s*<source pool='grainchart' volume='${ROOT}'`));
    const vol = virsh('vol-dumpxml', '--pool', 'grainchart', ROOT).stdout;
    const backing = /<backingStore>\s*<path>([^<]+)<\/path>/.exec(vol)?.[1] ?? '';
    assert.match(backing, new RegExp(`^${poolDir()}/tiny-nest-[0-9a-f]+--root\\.qcow2$`), vol);
    assert.match(
      virsh('vol-list', 'grainchart').stdout,
      new RegExp(`^ ${backing.slice(poolDir().length + 1).replace(/\./g, '\\.')} `, 'm'),
      'the image is a volume of the pool',
    );
    assert.match(virsh('pool-info', 'grainchart').stdout, /^State:\s+running/m);
    assert.equal(ok(k('exec', 'l2', '--', 'hostname')).stdout.trim(), 'l2');
    assert.match(ok(k('tree')).stdout, /l1 "libvirt L1" \(guest VM on libvirt qemu:\/\/\/system\) running/);
  });

  it('explain shows what each section of the plan becomes in the domain libvirt runs', () => {
    const sections = json(k('explain', 'l1', '--json')) as Array<{ section: string; domain?: string[] }>;
    assert.deepEqual(sections.find((s) => s.section === 'smp')!.domain, ['<vcpu>2</vcpu>']);
    const defined = virsh('dumpxml', '--inactive', DOMAIN).stdout;
    // The disk explain names is the one the defined domain has.
    const disk = sections
      .flatMap((s) => s.domain ?? [])
      .find((l) => l.includes('<source pool='))!
      .trim();
    assert.ok(defined.includes(disk), `${disk} is not in the defined domain`);
    assert.match(ok(k('explain', 'l1', '--width', '300')).stdout, new RegExp(`QEMU as libvirt domain ${DOMAIN} on qemu:///system[^]*⇒ <vcpu>2</vcpu>`));
  });

  it('chart-vm reads l1 from every source, its host figures from libvirt’s domstats', () => {
    const s = json(k('chart-vm', 'l1', '--json'));
    for (const source of ['host', 'qmp', 'disk', 'guest', 'network']) assert.equal(s[source].ok, true, `${source}: ${s[source].reason}`);
    assert.equal(s.qmp.value.status, 'running');
    assert.ok(s.guest.value.memTotalMiB > 1200, `l1 sees ${s.guest.value.memTotalMiB} MiB`);
    assert.equal(s.figuresFrom, 'libvirt domstats');
    // libvirt's figures are the QEMU's own: RSS as /proc says it, a CPU % per vCPU, the balloon
    // at the spec's memory, and the bytes l1 has read from its disk since boot.
    const pid = Number(readFileSync(`/run/libvirt/qemu/${DOMAIN}.pid`, 'utf8'));
    const rssMiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
    assert.ok(Math.abs(s.host.value.rssMiB - rssMiB) < 0.2 * rssMiB, `domstats RSS ${s.host.value.rssMiB} MiB, /proc ${rssMiB.toFixed(0)} MiB`);
    assert.equal(s.host.value.vcpuPercent.length, 2);
    assert.ok(s.host.value.cpuPercent > 0, `QEMU at ${s.host.value.cpuPercent}% with l2 running inside`);
    assert.equal(s.qmp.value.balloonMiB, 1536);
    assert.ok(s.qmp.value.readBytes > 1e6, `read ${s.qmp.value.readBytes} bytes`);
    assert.match(ok(k('chart-vm', 'l1')).stdout, /l1 "libvirt L1" · guest VM · running · tcg · libvirt domstats/);
  });

  it('status carries libvirt’s own word on the domain', () => {
    const row = json(k('status', '--json')).find((r: { name: string }) => r.name === 'l1');
    assert.equal(row.domstate, 'running (booted)');
    assert.match(ok(k('status')).stdout, /^ {2}l1: libvirt says running \(booted\)$/m);
  });

  it('smoke --reuse runs its checks on the libvirt lab and removes its golden snapshot from both lists; doc reports the lab', () => {
    const r = k('smoke', '--reuse', '--tap');
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^TAP version 13\n1\.\.3\nok 1 - l1: ssh\nok 2 - l1: kvm\nok 3 - l1: child-reachable\n/);
    // It leaves the running lab up, as --reuse says, and its golden snapshot gone from both lists.
    assert.equal(domstate(), 'running');
    assert.equal(virsh('snapshot-list', '--name', DOMAIN).stdout.trim(), '');
    assert.deepEqual(json(k('snapshots', 'lvtest', '--json')), []);
    const out = join(lab.home, 'doc');
    ok(k('doc', '--out', out));
    const md = readFileSync(join(out, 'lvtest.md'), 'utf8');
    assert.match(md, /l1 "libvirt L1" \(guest VM on libvirt qemu:\/\/\/system\) running/);
    assert.match(md, /l2 .*running/);
  });

  it('suspend is libvirt’s managed save; up --cold discards it only with --yes, and boots cold', () => {
    const managed = () => /^Managed save:\s+yes/m.test(virsh('dominfo', DOMAIN).stdout);
    assert.match(ok(k('suspend')).stdout, /^l1: saved by libvirt \(managed save\)/m);
    assert.ok(managed(), 'no managed save');
    assert.match(json(k('status', '--json')).find((r: { name: string }) => r.name === 'l1').reason, /^in its machine’s managed save at /);
    const refused = k('up', '--cold');
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /lab lvtest is suspended .* up --cold discards that state; not doing that without --yes/);
    assert.ok(managed(), 'the refused up --cold lost the managed save');
    const r = ok(k('up', '--cold', '--yes'));
    assert.match(r.stderr + r.stdout, /discarded the saved state of l1: managed save/);
    assert.equal(managed(), false, 'libvirt would load the discarded save at the next start');
    assert.deepEqual(states(), [
      ['l1', 'running'],
      ['l2', 'running'],
    ]);
  });

  it('a snapshot of the lab, listed by libvirt too; a restore brings back what l2 had; snapshot-rm takes it from both', () => {
    ok(k('exec', 'l2', '--', 'echo before > /root/mark'));
    ok(k('snapshot', 'lvtest', '--name', 'golden'));
    // libvirt's own list knows it (virt-manager shows it), with the VM state it holds.
    assert.match(virsh('snapshot-list', '--name', DOMAIN).stdout, /^golden$/m);
    assert.match(virsh('snapshot-info', DOMAIN, 'golden').stdout, /^State:\s+running$/m);
    ok(k('exec', 'l2', '--', 'echo after > /root/mark'));
    ok(k('restore', 'lvtest', 'golden', '--yes'));
    assert.equal(ok(k('exec', 'l2', '--', 'cat /root/mark')).stdout.trim(), 'before');
    assert.equal(domstate(), 'running');
    ok(k('snapshot-rm', 'lvtest', 'golden'));
    assert.doesNotMatch(virsh('snapshot-list', '--name', DOMAIN).stdout, /golden/);
    assert.deepEqual(
      json(k('snapshots', 'lvtest', '--json')).filter((x: { name: string }) => x.name === 'golden'),
      [],
    );
  });

  it('down shuts the domain off and keeps it defined; up boots the same disk again', () => {
    ok(k('exec', 'l1', '--', 'echo kept > /root/kept; sync'));
    ok(k('down'));
    assert.equal(domstate(), 'shut off');
    assert.match(json(k('status', '--json')).find((r: { name: string }) => r.name === 'l1').domstate, /^shut off \(/);
    assert.deepEqual(states(), [
      ['l1', 'stopped'],
      ['l2', 'stopped'],
    ]);
    // The root volume's file taken away and put back behind libvirt's back: libvirt's list no
    // longer has it, and the start must list the pool again rather than fail.
    const file = join(poolDir(), ROOT);
    renameSync(file, `${file}.away`);
    assert.equal(virsh('pool-refresh', 'grainchart').status, 0);
    renameSync(`${file}.away`, file);
    assert.doesNotMatch(virsh('vol-list', 'grainchart').stdout, new RegExp(` ${ROOT.replace(/\./g, '\\.')} `), 'libvirt still lists the volume');
    ok(k('up'));
    assert.equal(domstate(), 'running');
    assert.equal(ok(k('exec', 'l1', '--', 'cat /root/kept')).stdout.trim(), 'kept');
  });

  it('boot --fresh makes l1 a new root volume on the image: what it wrote is gone, and libvirt forgets the snapshots it held', () => {
    ok(k('down'));
    ok(k('snapshot', 'l1', '--name', 'stale'));
    assert.match(virsh('snapshot-list', '--name', DOMAIN).stdout, /^stale$/m);
    ok(k('boot', 'l1', '--fresh', '--quiet'));
    assert.equal(virsh('snapshot-list', '--name', DOMAIN).stdout.trim(), '');
    assert.deepEqual(json(k('snapshots', 'l1', '--json')), []);
    assert.equal(ok(k('exec', 'l1', '--', 'cat /root/kept 2>/dev/null || echo gone')).stdout.trim(), 'gone');
    assert.match(virsh('vol-dumpxml', '--pool', 'grainchart', ROOT).stdout, /<backingStore>\s*<path>[^<]*--root\.qcow2<\/path>/);
  });

  it('down --undefine removes the domain, its folder in the pool and its root volume', () => {
    const r = ok(k('down', '--undefine'));
    assert.match(r.stdout, new RegExp(`l1: undefined ${DOMAIN}, removed ${folder} and volume ${ROOT}`));
    assert.notEqual(virsh('domuuid', DOMAIN).status, 0, 'the domain is still defined');
    assert.notEqual(virsh('vol-info', '--pool', 'grainchart', ROOT).status, 0, 'the root volume is still there');
    assert.equal(existsSync(folder), false);
    assert.equal(existsSync(`${poolDir()}/vms/lvtest`), false, 'the lab’s folder in the pool is left empty');
  });
});
