// libvirt-xml: a VM's plan as a libvirt domain, for the seed's labs and the demo on a KVM host
// and on this kind of host, and a cloud-image parent carrying its children's images.  Every
// domain must pass libvirt's own schema (virt-xml-validate), and say what the QEMU command
// line from the same plan says: kernel, initrd, command line, every disk, the forwards.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { qemuArgs, qemuPlan, type ArgInputs } from '../../tasks/qemu/args.ts';
import { cpuXml, domainParts, domainXml, partLines, volumeAt, volumeXml, xmlText } from '../../tasks/machine/libvirt/xml.ts';
import { wrapperText } from '../../tasks/machine/libvirt/emulator.ts';
import { folderOfVolume, imageVolume, rootVolume } from '../../tasks/machine/libvirt/pool.ts';
import { resolveLab } from '../../tasks/spec/resolve.ts';
import { findVm, type VmResolved } from '../../tasks/spec/tree.ts';
import { readLabInput } from '../../tasks/spec/load.ts';
import type { KvmVerdict } from '../../tasks/qemu/host-probe.ts';
import { planInputs } from '../helpers/plan-inputs.ts';
import { BIG_HOST, KVM_PVM, KVM_USABLE } from '../helpers/probes.ts';

const inputs = planInputs;

/** libvirt's own schema (a domain's, or `storagevol`) says yes, or the test fails with what it said. */
function assertValid(xml: string, schema = 'domain'): void {
  const dir = mkdtempSync(join(tmpdir(), 'gc-virtxml-'));
  try {
    writeFileSync(join(dir, 'doc.xml'), xml);
    const r = spawnSync('virt-xml-validate', [join(dir, 'doc.xml'), schema], { encoding: 'utf8' });
    assert.ok(!r.error, `virt-xml-validate: ${r.error?.message} (scripts/setup-host.sh installs libvirt-clients and libxml2-utils)`);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}\n${xml}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const after = (argv: string[], flag: string) => argv.filter((_, i) => argv[i - 1] === flag);
const driveFiles = (argv: string[]) => after(argv, '-drive').flatMap((d) => (/(?:^|,)file=((?:[^,]|,,)*)/.exec(d)?.[1] ?? '').replaceAll(',,', ',') || []);
const sources = (xml: string) => [...xml.matchAll(/<source file='([^']*)'\/>/g)].map((m) => m[1]);

/** What the domain must say that the argv from the same plan says. */
function assertSameAsArgv(vm: VmResolved, kvm: KvmVerdict, p: ArgInputs, lab: string): string {
  const argv = qemuArgs(vm, kvm, p);
  const xml = domainXml(qemuPlan(vm, kvm, p), { lab, emulator: '/usr/bin/qemu-system-x86_64' });
  assertValid(xml);
  assert.match(xml, new RegExp(`^<domain type='${argv.includes('-enable-kvm') ? 'kvm' : 'qemu'}'`));
  assert.match(xml, new RegExp(`<name>grainchart-${lab}-${vm.name}</name>`));
  assert.match(xml, new RegExp(`<memory unit='MiB'>${after(argv, '-m')[0]}</memory>`));
  assert.match(xml, new RegExp(`<vcpu>${after(argv, '-smp')[0]}</vcpu>`));
  for (const [flag, tag] of [
    ['-kernel', 'kernel'],
    ['-initrd', 'initrd'],
    ['-append', 'cmdline'],
  ] as const)
    assert.deepEqual(
      [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g'))].map((m) => m[1]),
      after(argv, flag).map(xmlText),
      tag,
    );
  assert.deepEqual(
    sources(xml).filter((s) => !after(argv, '-cdrom').includes(s!)),
    driveFiles(argv).filter((f) => !f.includes('OVMF') && !f.endsWith('.fd') && !f.endsWith('efivars.qcow2')),
    'the disks',
  );
  const netdev = after(argv, '-netdev')[0]!;
  assert.ok(xml.includes(`<qemu:arg value='${netdev}'/>`), `netdev ${netdev}`);
  if (xml.includes(`machine='q35'`)) {
    // Every device on q35's root bus as in the kit's own QEMU, each on its own slot: one left
    // without an address would sit behind a PCIe root port libvirt adds.
    const slots = [...xml.matchAll(/<address type='pci' domain='0x0000' bus='0x00' slot='(0x[0-9a-f]{2})' function='0x0'\/>/g)].map((m) => m[1]);
    const devices = xml.match(/<disk type='(file|volume)' device='disk'>|<memballoon model='virtio'>|<rng model='virtio'>/g) ?? [];
    assert.equal(slots.length, devices.length, `a device without its slot on the root bus:\n${xml}`);
    assert.equal(new Set([...slots, '0x1c', '0x1f']).size, slots.length + 2, `two devices on one slot, or on the NIC's or the chipset's: ${slots.join(' ')}`);
  }
  return xml;
}

describe('libvirt-xml', () => {
  const CASES: [string, string][] = [
    ['nixos-sway', 'nixos-sway'],
    ['nixos-test', 'nixos-test'],
    ['demo', 'l1'],
  ];
  for (const [labName, vmName] of CASES)
    for (const [hostName, kvm] of Object.entries({ kvm: KVM_USABLE, pvm: KVM_PVM }))
      it(`${vmName} (${labName}) on a ${hostName} host: valid, and the same VM as its QEMU command line`, async () => {
        const lab = resolveLab((await readLabInput(labName)).input, BIG_HOST, labName);
        const vm = findVm(lab, vmName)!.vm;
        const xml = assertSameAsArgv(vm, kvm, inputs(labName, vmName), labName);
        if (vmName === 'l1') assert.match(xml, hostName === 'kvm' ? /<cpu mode='host-passthrough'\/>/ : /<cpu mode='maximum'\/>/);
      });

  it('a cloud-image parent: overlay, read-only seed, carried images with their serials on slots 0x10 and up, the NIC beside them', async () => {
    const lab = resolveLab((await readLabInput('debian-nest')).input, BIG_HOST, 'debian-nest');
    const vm = findVm(lab, 'nest')!.vm;
    const p: ArgInputs = {
      ...inputs('debian-nest', 'nest'),
      cloud: { seed: '/var/lib/gc/debian-nest/nest/seed.iso', kernel: '/img/debian/vmlinuz', initrd: '/img/debian/initrd.img' },
      carry: [
        { file: '/img/debian/disk.raw', serial: 'gc-aaaa' },
        { file: '/img/tiny/initrd.img', serial: 'gc-bbbb' },
      ],
    };
    const xml = assertSameAsArgv(vm, KVM_PVM, p, 'debian-nest');
    assert.match(xml, /<source file='\/var\/lib\/gc\/debian-nest\/nest\/seed.iso'\/>\n\s*<target dev='vdb' bus='virtio'\/>\n\s*<readonly\/>/);
    assert.match(xml, /<serial>gc-aaaa<\/serial>\n\s*<address type='pci' domain='0x0000' bus='0x00' slot='0x10' function='0x0'\/>/);
    assert.match(xml, /<serial>gc-bbbb<\/serial>\n\s*<address type='pci' domain='0x0000' bus='0x00' slot='0x11' function='0x0'\/>/);
    assert.match(xml, /<qemu:arg value='virtio-net-pci,netdev=net0,bus=pcie.0,addr=0x1c'\/>/);
  });

  it('escapes what XML gives meaning to, and writes QEMU’s CPU flags as libvirt features', async () => {
    const lab = resolveLab(
      { name: 'x', vms: [{ name: 'v', title: `Tom's <lab> & "v2"`, memory: 256, cpu: 'EPYC,+svm,-x2apic', boot: { image: 'tiny' } }] },
      BIG_HOST,
      'x',
    );
    const xml = domainXml(qemuPlan(lab.vms[0]!, KVM_USABLE, inputs('x', 'v')), { lab: 'x', emulator: '/usr/bin/qemu-system-x86_64' });
    assertValid(xml);
    assert.match(xml, /<title>Tom&apos;s &lt;lab&gt; &amp; &quot;v2&quot;<\/title>/);
    assert.deepEqual(cpuXml('EPYC,+svm,-x2apic'), [
      "<cpu mode='custom' match='exact'>",
      "  <model fallback='forbid'>EPYC</model>",
      "  <feature policy='require' name='svm'/>",
      "  <feature policy='disable' name='x2apic'/>",
      '</cpu>',
    ]);
    assert.throws(() => cpuXml('host,svm'), /cpu flag "svm" of "host,svm" is not \+name or -name/);
  });

  it('a domain the kit runs: its own QMP socket and pidfile, then the extra arguments, its UUID once defined, no USB controller', async () => {
    const lab = resolveLab((await readLabInput('demo')).input, BIG_HOST, 'demo');
    const plan = qemuPlan(findVm(lab, 'l1')!.vm, KVM_PVM, inputs('demo', 'l1'));
    const xml = domainXml(plan, {
      lab: 'demo',
      emulator: '/usr/bin/qemu-system-x86_64',
      runtime: { qmp: '/p/vms/demo/l1/qmp.sock', pidfile: '/p/vms/demo/l1/qemu.pid' },
      extra: ['-loadvm', 'gc-suspend'],
      uuid: '2544aef3-f1b8-4388-8802-83694f92247a',
    });
    assertValid(xml);
    const args = [...xml.matchAll(/<qemu:arg value='([^']*)'\/>/g)].map((m) => m[1]);
    assert.deepEqual(args.slice(4), [
      '-qmp',
      'unix:/p/vms/demo/l1/qmp.sock,server=on,wait=off',
      '-pidfile',
      '/p/vms/demo/l1/qemu.pid',
      '-loadvm',
      'gc-suspend',
    ]);
    assert.match(xml, /<name>grainchart-demo-l1<\/name>\n\s*<uuid>2544aef3-f1b8-4388-8802-83694f92247a<\/uuid>/);
    assert.match(xml, /<controller type='usb' model='none'\/>/);
    // Written for people (libvirt-xml): libvirt's own monitor only, and no UUID to clash with.
    const plain = domainXml(plan, { lab: 'demo', emulator: '/usr/bin/qemu-system-x86_64' });
    assert.doesNotMatch(plain, /-qmp|-pidfile|<uuid>/);
  });

  it('explain’s view: each section’s own lines, which together are the whole domain but its fixed frame', async () => {
    const lab = resolveLab((await readLabInput('demo')).input, BIG_HOST, 'demo');
    const plan = qemuPlan(findVm(lab, 'l1')!.vm, KVM_PVM, inputs('demo', 'l1'));
    const o = { lab: 'demo', emulator: '/usr/bin/qemu-system-x86_64', runtime: { qmp: '/p/qmp.sock', pidfile: '/p/qemu.pid' } };
    const parts = domainParts(plan, o);
    assert.deepEqual(
      parts.map((p) => p.section),
      plan.map((s) => s.section),
    );
    const of = (section: string) => partLines(parts.find((p) => p.section === section)!);
    assert.deepEqual(of('smp'), ['<vcpu>2</vcpu>']);
    assert.deepEqual(of('memory'), ["<memory unit='MiB'>2048</memory>"]);
    assert.deepEqual(of('cpu'), ["<cpu mode='maximum'/>"]);
    assert.deepEqual(of('machine'), ['<os>', "  <type arch='x86_64' machine='q35'>hvm</type>", '</os>']);
    // Every line of the domain is one section's, or the frame every domain has.
    const frame = /^<\/?(domain|os|features|acpi|apic|devices|qemu:commandline)\b|^<(clock|on_poweroff|on_reboot|on_crash|emulator|controller) /;
    const fromParts = parts.flatMap((p) => Object.values(p.lines).flat());
    const body = domainXml(plan, o)
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !frame.test(l) && !/^<(clock|on_\w+|emulator)[ >]/.test(l));
    assert.deepEqual([...body].sort(), fromParts.map((l) => l.trim()).sort());
  });

  it('disks in the kit’s pool folder are named as its volumes (root overlay, carried image); a disk elsewhere stays a file', async () => {
    const lab = resolveLab((await readLabInput('demo')).input, BIG_HOST, 'demo');
    const p = inputs('demo', 'l1');
    const root = `/pool/${rootVolume('grainchart-demo-l1')}`;
    const plan = qemuPlan(findVm(lab, 'l1')!.vm, KVM_PVM, {
      ...p,
      vm: { ...p.vm, rootDisk: root },
      carry: [
        { file: `/pool/${imageVolume('tiny-4933d39a', 'root.qcow2')}`, serial: 'gc-aaaa' },
        { file: '/elsewhere/x.img', serial: 'gc-bbbb' },
      ],
    });
    assert.ok(
      qemuArgs(findVm(lab, 'l1')!.vm, KVM_PVM, { ...p, vm: { ...p.vm, rootDisk: root } }).some((a) => a.startsWith(`file=${root},`)),
      'QEMU’s own command line opens the volume’s file',
    );
    const xml = domainXml(plan, { lab: 'demo', emulator: '/usr/bin/qemu-system-x86_64', pool: { name: 'grainchart', dir: '/pool' } });
    assertValid(xml);
    assert.match(
      xml,
      /<disk type='volume' device='disk'>\n\s*<driver name='qemu' type='qcow2'\/>\n\s*<source pool='grainchart' volume='grainchart-demo-l1-root\.qcow2'\/>\n\s*<target dev='vda'/,
    );
    assert.match(xml, /<source pool='grainchart' volume='tiny-4933d39a--root\.qcow2'\/>\n\s*<target dev='vdb' bus='virtio'\/>\n\s*<readonly\/>/);
    assert.match(xml, /<disk type='file' device='disk'>\n\s*<driver name='qemu' type='raw'\/>\n\s*<source file='\/elsewhere\/x\.img'\/>/);
    // Without the pool (a domain written for people elsewhere), every disk is a file.
    assert.doesNotMatch(domainXml(plan, { lab: 'demo', emulator: '/usr/bin/qemu-system-x86_64' }), /type='volume'/);
  });

  it('volumes: only a file directly in the pool’s folder is one; an overlay volume says its capacity, qcow2 1.1 and its backing; an image volume names its folder', () => {
    assert.equal(volumeAt('/pool/a.qcow2', '/pool'), 'a.qcow2');
    assert.equal(volumeAt('/pool/vms/lab/v/root.qcow2', '/pool'), undefined);
    assert.equal(volumeAt('/poolx/a.qcow2', '/pool'), undefined);
    const xml = volumeXml({ name: 'grainchart-demo-l1-root.qcow2', capacityBytes: 283115520, backing: { path: '/pool/tiny-49--root.qcow2', format: 'qcow2' } });
    assertValid(xml, 'storagevol');
    assert.match(
      xml,
      /<capacity unit='bytes'>283115520<\/capacity>\n\s*<target><format type='qcow2'\/><compat>1\.1<\/compat><\/target>\n\s*<backingStore><path>\/pool\/tiny-49--root\.qcow2<\/path><format type='qcow2'\/><\/backingStore>/,
    );
    assert.doesNotMatch(volumeXml({ name: 'blank.qcow2', capacityBytes: 1 << 30 }), /backingStore/);
    assert.equal(folderOfVolume(imageVolume('tiny-nest-186bf4b8fa224e33', 'root.qcow2')), 'tiny-nest-186bf4b8fa224e33');
    assert.equal(folderOfVolume(rootVolume('grainchart-demo-l1')), undefined);
  });

  it('refuses what it cannot write yet (a SCSI disk, UEFI) instead of writing a domain that differs', async () => {
    const lab = resolveLab(
      {
        name: 'x',
        vms: [
          { name: 'v', memory: 256, disk: { file: 'd.qcow2', size: '1G', interface: 'scsi' }, boot: 'disk' },
          { name: 'u', memory: 256, firmware: 'uefi', boot: { image: 'tiny' } },
        ],
      },
      BIG_HOST,
      'x',
    );
    const domain = (i: number) => () =>
      domainXml(qemuPlan(lab.vms[i]!, KVM_USABLE, inputs('x', lab.vms[i]!.name)), { lab: 'x', emulator: '/usr/bin/qemu-system-x86_64' });
    assert.throws(domain(0), /SCSI disk/);
    assert.throws(domain(1), /UEFI VM .*libvirt 9\.0 reads <nvram> as raw/);
  });

  it('a QEMU unpacked into a folder: its firmware folders as -L arguments, valid; its wrapper names its modules, quoted', async () => {
    const lab = resolveLab({ name: 'u', vms: [{ name: 'v', boot: { kernel: '/k', initrd: '/i' }, vga: 'none' }] }, BIG_HOST, 't');
    const plan = qemuPlan(lab.vms[0]!, KVM_PVM, { ...inputs('u', 'v'), dataDirs: ['/opt/q 10/usr/share/qemu', '/opt/q 10/usr/share/seabios'] });
    const xml = domainXml(plan, { lab: 'u', emulator: '/var/lib/libvirt/images/grainchart/emulators/qemu-system-x86_64-abc' });
    assertValid(xml);
    assert.match(
      xml,
      /<qemu:arg value='-L'\/>\n\s*<qemu:arg value='\/opt\/q 10\/usr\/share\/qemu'\/>\n\s*<qemu:arg value='-L'\/>\n\s*<qemu:arg value='\/opt\/q 10\/usr\/share\/seabios'\/>/,
    );
    const text = wrapperText({
      system: "/opt/q'10/usr/bin/qemu-system-x86_64",
      img: '',
      from: 'host.qemu',
      dataDirs: [],
      moduleDir: "/opt/q'10/usr/lib/x86_64-linux-gnu/qemu",
    });
    assert.ok(text.startsWith('#!/bin/sh\n'));
    const dir = mkdtempSync(join(tmpdir(), 'gc-wrapper-'));
    try {
      // Run as it would be, with a stand-in QEMU that prints what it got.
      writeFileSync(join(dir, 'qemu'), '#!/bin/sh\nprintf "%s|%s|%s" "$QEMU_MODULE_DIR" "$1" "$2"\n', { mode: 0o755 });
      writeFileSync(join(dir, 'w'), text.replace(/exec '[^\n]*' "\$@"/, `exec ${join(dir, 'qemu')} "$@"`), { mode: 0o755 });
      assert.equal(spawnSync(join(dir, 'w'), ['-name', 'a b'], { encoding: 'utf8' }).stdout, "/opt/q'10/usr/lib/x86_64-linux-gnu/qemu|-name|a b");
      assert.match(text, /exec '\/opt\/q'\\''10\/usr\/bin\/qemu-system-x86_64' "\$@"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
