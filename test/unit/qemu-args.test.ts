import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { qemuArgs, qemuPlan, ramFileOf } from '../../tasks/qemu/args.ts';
import { chooseAccel } from '../../tasks/qemu/accel.ts';
import { resolveLab } from '../../tasks/spec/resolve.ts';
import { findVm, type LabResolved } from '../../tasks/spec/tree.ts';
import { readLabInput } from '../../tasks/spec/load.ts';
import { vmPaths } from '../../tasks/util/paths.ts';
import { BIG_HOST, KVM_PVM, KVM_USABLE } from '../helpers/probes.ts';

const HOME = '/home/lover';
const STATE = '/var/lib/gc';
const inputs = (lab: string, vm: string) => ({
  home: HOME,
  vm: vmPaths(STATE, lab, vm),
  images: {
    tiny: { kernel: '/img/vmlinuz', initrd: '/img/initrd.img', initrdDisk: '/img/initrd-disk.img' },
    'tiny-nest': { kernel: '/nest/vmlinuz', initrd: '/nest/initrd.img', initrdDisk: '/nest/initrd-disk.img' },
  },
});
const load = async (name: string): Promise<LabResolved> => resolveLab((await readLabInput(name)).input, BIG_HOST, name);
const vmOf = (lab: LabResolved, name: string) => findVm(lab, name)!.vm;

// What the kit adds to every command line: QMP, pidfile and serial log in the state folder,
// and the balloon (memory statistics) and RNG (entropy at boot) devices.
const additions = (lab: string, vm: string) => [
  '-qmp',
  `unix:${STATE}/${lab}/${vm}/qmp.sock,server=on,wait=off`,
  '-pidfile',
  `${STATE}/${lab}/${vm}/qemu.pid`,
  '-serial',
  `file:${STATE}/${lab}/${vm}/serial.log`,
  '-device',
  'virtio-balloon-pci',
  '-device',
  'virtio-rng-pci',
];

describe('qemuArgs golden: the seed’s command lines', () => {
  it('nixos-sway with usable KVM is the seed’s "Start NixOS VM" plus the documented additions', async () => {
    const lab = await load('nixos-sway');
    // The seed, word for word, with `~` expanded and the forward bound to 127.0.0.1
    // (the seed's hostfwd=tcp::2223-:22 listens on every interface).
    const seed = [
      '-name',
      'NixOS Sway',
      '-machine',
      'type=q35,accel=kvm',
      '-cpu',
      'host,+vmx,+svm',
      '-smp',
      '4',
      '-m',
      '8192',
      '-drive',
      `file=${HOME}/VMs/disks/nixos-sway.qcow2,format=qcow2,if=virtio`,
      '-boot',
      'c',
      '-netdev',
      'user,id=net0,hostfwd=tcp:127.0.0.1:2223-:22',
      '-device',
      'virtio-net-pci,netdev=net0',
      '-display',
      'gtk',
      '-vga',
      'virtio',
      '-enable-kvm',
      '-daemonize',
    ];
    assert.deepEqual(qemuArgs(vmOf(lab, 'nixos-sway'), KVM_USABLE, inputs('nixos-sway', 'nixos-sway')), [...seed, ...additions('nixos-sway', 'nixos-sway')]);
  });

  it('the nested Debian matches the seed’s layer-3 command (headless, as -nographic cannot daemonize)', async () => {
    const lab = await load('nixos-sway');
    const seed = [
      '-name',
      'Debian Stable',
      '-machine',
      'type=q35,accel=kvm',
      '-cpu',
      'host',
      '-smp',
      '2',
      '-m',
      '2048',
      '-drive',
      `file=${HOME}/VMs/disks/debian-deploy.qcow2,format=qcow2,if=virtio`,
      '-boot',
      'c',
      '-netdev',
      'user,id=net0,hostfwd=tcp:127.0.0.1:2224-:22',
      '-device',
      'virtio-net-pci,netdev=net0',
      '-display',
      'none',
      '-enable-kvm',
      '-daemonize',
    ];
    assert.deepEqual(qemuArgs(vmOf(lab, 'debian'), KVM_USABLE, inputs('nixos-sway', 'debian')), [...seed, ...additions('nixos-sway', 'debian')]);
  });

  it('nixos-test is the seed’s quick start', async () => {
    const lab = await load('nixos-test');
    const args = qemuArgs(vmOf(lab, 'nixos-test'), KVM_USABLE, inputs('nixos-test', 'nixos-test'));
    assert.deepEqual(args.slice(0, 24), [
      '-name',
      'NixOS Test',
      '-machine',
      'type=q35,accel=kvm',
      '-cpu',
      'host,+vmx,+svm',
      '-smp',
      '4',
      '-m',
      '8192',
      '-drive',
      `file=${HOME}/VMs/disks/nixos-test.qcow2,format=qcow2,if=virtio`,
      '-boot',
      'c',
      '-netdev',
      'user,id=net0,hostfwd=tcp:127.0.0.1:2223-:22',
      '-device',
      'virtio-net-pci,netdev=net0',
      '-display',
      'gtk',
      '-vga',
      'virtio',
      '-enable-kvm',
      '-daemonize',
    ]);
  });
});

describe('qemuArgs on a host without usable KVM', () => {
  it('falls back to TCG with -cpu max and no -enable-kvm when accel is auto', async () => {
    const lab = await load('nixos-sway');
    const vm = { ...vmOf(lab, 'nixos-sway'), accel: 'auto' as const };
    const args = qemuArgs(vm, KVM_PVM, inputs('nixos-sway', 'nixos-sway'));
    assert.deepEqual(args.slice(0, 6), ['-name', 'NixOS Sway', '-machine', 'type=q35,accel=tcg', '-cpu', 'max']);
    assert.ok(!args.includes('-enable-kvm'));
    const cpu = qemuPlan(vm, KVM_PVM, inputs('nixos-sway', 'nixos-sway')).find((s) => s.section === 'cpu')!;
    assert.match(cpu.note, /needs KVM/);
  });
  it('honours an explicit accel=kvm (boot then reports the failure)', () => {
    assert.deepEqual(chooseAccel({ accel: 'kvm' }, KVM_PVM).accel, 'kvm');
    assert.equal(chooseAccel({ accel: 'auto' }, KVM_PVM).accel, 'tcg');
    assert.equal(chooseAccel({ accel: 'auto' }, KVM_USABLE).accel, 'kvm');
  });
  it('boots the demo’s tiny image by direct kernel boot, root on an overlay, lab key on the command line', async () => {
    const lab = await load('demo');
    const args = qemuArgs(vmOf(lab, 'l1'), KVM_PVM, { ...inputs('demo', 'l1'), authorizedKey: 'ssh-ed25519 AAAAkey grainchart-demo' });
    assert.deepEqual(args.slice(0, 26), [
      '-name',
      'demo L1',
      '-machine',
      'type=q35,accel=tcg',
      '-cpu',
      'max',
      '-smp',
      '2',
      '-m',
      '2048',
      '-kernel',
      '/nest/vmlinuz',
      '-initrd',
      '/nest/initrd-disk.img',
      '-append',
      'console=ttyS0 quiet panic=-1 cryptomgr.notests tsc=reliable no_timer_check gc.root=/dev/vda gc.hostname=l1 gc.authkey=ssh-ed25519:AAAAkey',
      '-drive',
      `file=${STATE}/demo/l1/root.qcow2,format=qcow2,if=virtio`,
      '-netdev',
      'user,id=net0,hostfwd=tcp:127.0.0.1:10022-:22',
      '-device',
      'virtio-net-pci,netdev=net0',
      '-display',
      'none',
      '-vga',
      'none',
    ]);
  });
  it('computes the nested child’s argv with paths inside its parent and QMP on the parent’s loopback', async () => {
    const lab = await load('demo');
    const inner = {
      home: '/root',
      vm: {
        dir: '/var/lib/grainchart/vms/demo/l2',
        qmp: '/x',
        pid: '/var/lib/grainchart/vms/demo/l2/qemu.pid',
        serial: '/var/lib/grainchart/vms/demo/l2/serial.log',
        stderr: '/e',
      },
      images: inputs('demo', 'l2').images,
      qmpTcpPort: 14000,
    };
    const args = qemuArgs(vmOf(lab, 'l2'), KVM_USABLE, inner);
    assert.deepEqual(args.slice(0, 6), ['-name', 'demo L2', '-machine', 'type=q35,accel=kvm', '-cpu', 'host']);
    assert.equal(args[args.indexOf('-qmp') + 1], 'tcp:127.0.0.1:14000,server=on,wait=off');
    assert.equal(args[args.indexOf('-netdev') + 1], 'user,id=net0,hostfwd=tcp:127.0.0.1:2224-:22');
    assert.equal(args[args.indexOf('-drive') + 1], 'file=/var/lib/grainchart/vms/demo/l2/root.qcow2,format=qcow2,if=virtio');
    assert.ok(args.includes('-enable-kvm'));
  });
  it('keeps an image’s root in RAM when asked', () => {
    const vm = resolveLab({ name: 'r', vms: [{ name: 'r1', boot: { image: 'tiny', root: 'ram' } }] }, BIG_HOST, 't').vms[0]!;
    const args = qemuArgs(vm, KVM_PVM, inputs('r', 'r1'));
    assert.equal(args[args.indexOf('-append') + 1], 'console=ttyS0 quiet panic=-1 cryptomgr.notests tsc=reliable no_timer_check gc.hostname=r1');
    assert.equal(args[args.indexOf('-initrd') + 1], '/img/initrd.img');
    assert.ok(!args.includes('-drive'));
  });
});

describe('qemuArgs details', () => {
  const base = { name: 'x', memory: 256, boot: 'disk', disk: { file: 'a,b.qcow2', size: '1G' } };
  const one = (vm: object) => resolveLab({ name: 'l', vms: [{ ...base, ...vm }] }, BIG_HOST, 't').vms[0]!;
  it('maps the RAM from the file it is given, under the machine’s own name for its RAM, and reads that file back from the argv', () => {
    const args = qemuArgs(one({ memory: '1G' }), KVM_PVM, { ...inputs('l', 'x'), ramFile: '/dev/shm/a,b.ram' });
    assert.equal(args[args.indexOf('-machine') + 1], 'type=q35,accel=tcg,memory-backend=pc.ram');
    const m = args.indexOf('-m');
    assert.deepEqual(args.slice(m, m + 4), ['-m', '1024', '-object', 'memory-backend-file,id=pc.ram,size=1024M,mem-path=/dev/shm/a,,b.ram,share=on']);
    assert.equal(ramFileOf(args), '/dev/shm/a,b.ram');
    const plain = qemuArgs(one({ memory: '1G' }), KVM_PVM, inputs('l', 'x'));
    assert.ok(!plain.join(' ').includes('memory-backend'));
    assert.equal(ramFileOf(plain), undefined);
  });
  it('doubles commas in file names and puts relative disks in the state folder', () => {
    const args = qemuArgs(one({}), KVM_PVM, inputs('l', 'x'));
    assert.ok(args.includes(`file=${STATE}/l/x/a,,b.qcow2,format=qcow2,if=virtio`));
  });
  it('binds every forward to the spec’s address', () => {
    const args = qemuArgs(
      one({
        network: {
          sshPort: 2222,
          forwards: [
            { host: 8080, guest: 80 },
            { host: 5353, guest: 53, proto: 'udp', bind: '127.0.0.2' },
          ],
        },
      }),
      KVM_PVM,
      inputs('l', 'x'),
    );
    assert.ok(args.includes('user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:127.0.0.2:5353-:53'));
  });
  it('boots an installer ISO from the CD-ROM', () => {
    const args = qemuArgs(one({ boot: { iso: '~/iso/nixos.iso' } }), KVM_PVM, inputs('l', 'x'));
    assert.deepEqual(args.slice(args.indexOf('-cdrom'), args.indexOf('-cdrom') + 4), ['-cdrom', `${HOME}/iso/nixos.iso`, '-boot', 'd']);
  });
  it('uses VNC on loopback only', () => {
    const args = qemuArgs(one({ display: 'vnc' }), KVM_PVM, inputs('l', 'x'));
    assert.equal(args[args.indexOf('-vnc') + 1], '127.0.0.1:0,to=99');
  });
});

describe('qemuArgs for cloud images', () => {
  const cloudVm = (boot: object) => resolveLab({ name: 'c', vms: [{ name: 'c1', memory: 1024, boot, network: { sshPort: 2500 } }] }, BIG_HOST, 't').vms[0]!;
  const cloudInputs = (kernel?: string) => ({
    ...inputs('c', 'c1'),
    cloud: { seed: `${STATE}/c/c1/seed.iso`, ...(kernel ? { kernel, initrd: '/k/initrd.img' } : {}) },
  });
  it('boots the overlay with the NoCloud seed as a read-only disk, by its own boot loader', () => {
    const args = qemuArgs(cloudVm({ cloudImage: '~/images/debian-12-genericcloud-amd64.qcow2' }), KVM_PVM, cloudInputs());
    const i = args.indexOf('-drive');
    assert.deepEqual(args.slice(i, i + 6), [
      '-drive',
      `file=${STATE}/c/c1/root.qcow2,format=qcow2,if=virtio`,
      '-drive',
      `file=${STATE}/c/c1/seed.iso,format=raw,if=virtio,readonly=on`,
      '-boot',
      'c',
    ]);
    assert.ok(!args.includes('-kernel'));
  });
  it('boots a kernel directly when given (the kit’s debian image), root on the overlay', () => {
    const args = qemuArgs(cloudVm({ cloudImage: 'debian', append: 'systemd.log_level=info' }), KVM_PVM, cloudInputs('/k/vmlinuz'));
    assert.deepEqual(args.slice(args.indexOf('-kernel'), args.indexOf('-kernel') + 6), [
      '-kernel',
      '/k/vmlinuz',
      '-initrd',
      '/k/initrd.img',
      '-append',
      'root=/dev/vda rw console=ttyS0 quiet systemd.log_level=info',
    ]);
    assert.ok(!args.includes('-boot'));
  });
});
