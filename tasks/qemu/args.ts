// tasks/qemu/: QEMU itself — the plan of its command line, why it refuses to start, QMP, qemu-
// img, firmware, the host probe, its /proc — with no idea of where it runs (machine/ decides
// that).
//
// Spec + host probe + paths → QEMU argv.  Pure: no files read, nothing spawned.
// Built in sections whose notes say why each flag is there; `qemuArgs` flattens them and
// `explain` prints them, so the docs and the command line cannot drift apart.
import { optValue, type ArgSection, type PlanFacts } from './plan.ts';
import { portShellSection, servesPortShell } from './port-shell.ts';
import { forwardsOf, type VmResolved } from '../spec/tree.ts';
import type { KvmVerdict } from './host-probe.ts';
import { chooseAccel, chooseCpu } from './accel.ts';
import { isQ35 } from './machine-type.ts';
import { expandPath, type KitPaths } from '../util/paths.ts';
import { VM_FILES } from '../util/paths.ts';

/** Images the kit builds itself (the `image` task), by name. */
export interface ImagePaths {
  kernel: string;
  /** The whole guest in RAM. */
  initrd: string;
  /** Only what mounting the root disk needs (smaller, faster); `initrd` when absent. */
  initrdDisk?: string;
}

export interface ArgInputs extends KitPaths {
  images?: Partial<Record<'tiny' | 'tiny-nest', ImagePaths>>;
  /** QMP on this loopback TCP port instead of the unix socket: nested VMs, reached through an SSH tunnel. */
  qmpTcpPort?: number;
  /** "ssh-ed25519 AAAA…": handed to kit images on the kernel command line. */
  authorizedKey?: string;
  /** Cloud-image boots: the NoCloud seed ISO, and the kernel and initramfs when booted directly. */
  cloud?: { seed: string; kernel?: string; initrd?: string };
  /** Files this VM's children boot from, handed to it as read-only disks it finds by their serial. */
  carry?: CarriedDisk[];
  /** The file the guest's RAM is mapped from, shared with QEMU, so a suspend need not write it again (machine.ramFileFor). */
  ramFile?: string;
  /** Firmware folders searched first: a QEMU unpacked into a folder brings its own (machine.qemuDataDirs). */
  dataDirs?: string[];
}

/** Where a suspended VM's RAM is kept, in its folder. */
export const savedRamFile = (p: Pick<KitPaths, 'vm'>) => `${p.vm.dir}/${VM_FILES.ram}`;
/** The file a command line this plan made maps the guest's RAM from (a record's argv, a saved state's), if any. */
export function ramFileOf(argv: string[]): string | undefined {
  const backend = argv.find((a) => a.startsWith('memory-backend-file,'));
  // QEMU doubles a comma inside an option's value (optValue).
  const m = backend ? /(?:^|,)mem-path=((?:[^,]|,,)*)/.exec(backend) : null;
  return m ? m[1]!.replaceAll(',,', ',') : undefined;
}
export const mapsRamFromFile = (argv: string[]) => ramFileOf(argv) !== undefined;
/**
 * QEMU's id for that memory backend, which names the guest's RAM block in saved states: the
 * q35/pc machine's own name for its RAM, so a state saved with the RAM in a file loads into a
 * VM without one and the other way round (QEMU's advice for -machine memory-backend).
 */
export const RAM_BACKEND = 'pc.ram';

/** PCI slots 0x10–0x1b of the root bus hold the carried disks (on q35, 0x1f is the chipset's). */
export const CARRY_SLOTS = 12;
const carrySlot = (i: number) => 0x10 + i;

export interface CarriedDisk {
  file: string;
  /** The virtio serial (≤ 20 bytes): inside, /sys/block/vdX/serial names it. */
  serial: string;
}

/** UEFI firmware from Debian's ovmf package (4 MiB flash), and each VM's own variable store. */
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS_TEMPLATE = '/usr/share/OVMF/OVMF_VARS_4M.fd';
export const efiVars = (p: Pick<KitPaths, 'vm'>) => `${p.vm.dir}/${VM_FILES.efiVars}`;

/** The per-VM copy-on-write root disk of an image boot: in the VM's state folder, or where its machine keeps it (paths.rootDisk). */
export const imageRootDisk = (p: Pick<KitPaths, 'vm'>) => p.vm.rootDisk ?? `${p.vm.dir}/${VM_FILES.rootDisk}`;

export function qemuPlan(vm: VmResolved, kvm: KvmVerdict, p: ArgInputs): ArgSection[] {
  const accel = chooseAccel(vm, kvm);
  const cpu = chooseCpu(vm, accel.accel);
  const sections: ArgSection[] = [];
  const add = (section: string, args: string[], note: string, facts?: PlanFacts) => {
    if (args.length) sections.push({ section, args, note, ...(facts ? { facts } : {}) });
  };

  // Identity: the title shows in window titles and `ps`.
  // -name is an option string (guest=…,process=…): a comma in the title is written twice.
  add('name', ['-name', optValue(vm.title ?? vm.name)], 'how QEMU names this VM in windows and process lists', { name: vm.name, title: vm.title ?? vm.name });

  // A QEMU unpacked from Debian's packages into a folder looks for its firmware where Debian
  // installs it: its own folders go first, so it never loads another version's ROMs.
  add(
    'data',
    (p.dataDirs ?? []).flatMap((d) => ['-L', d]),
    'this QEMU’s own firmware folders first (it was unpacked into a folder, not installed)',
    p.dataDirs?.length ? { dataDirs: p.dataDirs } : undefined,
  );

  // Machine: the chipset, with the accelerator chosen per layer.
  add(
    'machine',
    ['-machine', `type=${vm.machine},accel=${accel.accel}${p.ramFile ? `,memory-backend=${RAM_BACKEND}` : ''}`],
    `${vm.machine === 'q35' ? 'Q35: a modern PCIe chipset' : isQ35(vm.machine) ? `Q35 (${vm.machine}, pinned at its first boot): a modern PCIe chipset` : `machine ${vm.machine}`}; accelerator ${accel.accel}: ${accel.why}`,
    { machine: vm.machine, accel: accel.accel },
  );

  // Firmware: SeaBIOS is QEMU's default; UEFI is two flash chips, the code read-only and
  // the variables this VM's own (qcow2, so snapshots take it along).
  if (vm.firmware === 'uefi')
    add(
      'firmware',
      ['-drive', `if=pflash,format=raw,readonly=on,file=${optValue(OVMF_CODE)}`, '-drive', `if=pflash,format=qcow2,file=${optValue(efiVars(p))}`],
      'UEFI: OVMF from Debian’s ovmf package, with this VM’s own copy of the variable store (boot entries survive reboots)',
      { firmware: { code: OVMF_CODE, vars: efiVars(p) } },
    );

  // CPU model and count.
  const fallback = accel.accel === 'tcg' && vm.accel === 'auto' ? `KVM is ${kvm.state} here (${kvm.reason.split(':')[0]}): ` : '';
  add('cpu', ['-cpu', cpu.model], `${fallback}${cpu.why}`, { cpuModel: cpu.model });
  add('smp', ['-smp', String(vm.cpus)], `${vm.cpus} virtual CPU${vm.cpus === 1 ? '' : 's'}`, { cpus: vm.cpus });

  // Memory in MiB; where the machine keeps RAM in files, a file the guest's RAM is mapped from
  // (share=on: what the guest writes is the file's), so suspending writes only the devices.
  const ram = p.ramFile ? ['-object', `memory-backend-file,id=${RAM_BACKEND},size=${vm.memory}M,mem-path=${optValue(p.ramFile)},share=on`] : [];
  const inFolder = p.ramFile === savedRamFile(p);
  add(
    'memory',
    ['-m', String(vm.memory), ...ram],
    `${vm.memory} MiB of guest RAM${!p.ramFile ? '' : inFolder ? ', mapped from its saved file in its folder' : ', mapped from a file in memory (tmpfs): suspend saves the devices and copies the touched pages beside them'}`,
    { memoryMiB: vm.memory, ...(p.ramFile ? { ramFile: p.ramFile } : {}) },
  );

  // Disks and what to boot.
  const disk: string[] = [];
  const diskFacts: PlanFacts = { drives: [] };
  if (vm.disk) {
    const file = expandPath(vm.disk.file, p);
    disk.push('-drive', `file=${optValue(file)},format=${vm.disk.format},if=${vm.disk.interface}`);
    diskFacts.drives!.push({ file, format: vm.disk.format, bus: vm.disk.interface });
  }
  const boot = vm.boot;
  if (typeof boot === 'object' && 'iso' in boot) disk.push('-cdrom', (diskFacts.cdrom = expandPath(boot.iso, p)));
  add(
    'disk',
    disk,
    vm.disk ? `${vm.disk.format} image on ${vm.disk.interface === 'virtio' ? 'virtio, the fastest paravirtual disk' : vm.disk.interface}` : 'no disk',
    diskFacts,
  );

  if (boot === 'disk') add('boot', ['-boot', 'c'], 'boot from the first disk', { bootFrom: 'hd' });
  else if ('cloudImage' in boot) {
    const c = p.cloud;
    if (!c) throw new Error('cloud-image boots need the seed (and kernel) paths in ArgInputs.cloud');
    const args = ['-drive', `file=${optValue(imageRootDisk(p))},format=qcow2,if=virtio`, '-drive', `file=${optValue(c.seed)},format=raw,if=virtio,readonly=on`];
    const facts: PlanFacts = {
      drives: [
        { file: imageRootDisk(p), format: 'qcow2', bus: 'virtio' },
        { file: c.seed, format: 'raw', bus: 'virtio', readonly: true },
      ],
    };
    if (c.kernel) {
      const append = ['root=/dev/vda', 'rw', 'console=ttyS0', 'quiet', ...(boot.append ? [boot.append] : [])].join(' ');
      args.push('-kernel', c.kernel);
      if (c.initrd) args.push('-initrd', c.initrd);
      args.push('-append', append);
      facts.kernel = { kernel: c.kernel, initrd: c.initrd, append };
    } else {
      args.push('-boot', 'c');
      facts.bootFrom = 'hd';
    }
    add(
      'boot',
      args,
      `cloud image on a qcow2 overlay (the image itself is never written), with a cloud-init NoCloud seed (user, lab key, host key) as a read-only disk${c.kernel ? '; direct kernel boot' : '; its own boot loader'}`,
      facts,
    );
  } else if ('iso' in boot) add('boot', ['-boot', 'd'], 'boot from the CD-ROM (installer)', { bootFrom: 'cdrom' });
  else if ('kernel' in boot) {
    const kernel = { kernel: expandPath(boot.kernel, p), initrd: boot.initrd ? expandPath(boot.initrd, p) : undefined, append: boot.append };
    const args = ['-kernel', kernel.kernel];
    if (kernel.initrd) args.push('-initrd', kernel.initrd);
    args.push('-append', boot.append);
    add('boot', args, 'direct kernel boot: no bootloader, no firmware menu', { kernel });
  } else {
    const image = p.images?.[boot.image];
    if (!image) throw new Error(`image "${boot.image}" paths were not given to qemuArgs; build it with the image task`);
    // The image's /init reads gc.* words: root disk, hostname, and the lab's public key
    // (public, so the command line may show it), so one image serves every lab.
    // quiet: a serial console costs TCG time per character.  cryptomgr.notests skips the
    // crypto self-tests, tsc=reliable/no_timer_check skip clock calibration: ~0.5 s of a
    // ~4 s TCG boot, and nothing a throwaway lab guest needs.
    const words = ['console=ttyS0', 'quiet', 'panic=-1', 'cryptomgr.notests', 'tsc=reliable', 'no_timer_check'];
    if (boot.root === 'disk') words.push('gc.root=/dev/vda');
    words.push(`gc.hostname=${vm.name}`);
    if (p.authorizedKey) words.push(`gc.authkey=${p.authorizedKey.split(' ').slice(0, 2).join(':')}`);
    if (boot.append) words.push(boot.append);
    const initrd = boot.root === 'disk' ? (image.initrdDisk ?? image.initrd) : image.initrd;
    const args = ['-kernel', image.kernel, '-initrd', initrd, '-append', words.join(' ')];
    if (boot.root === 'disk') args.push('-drive', `file=${optValue(imageRootDisk(p))},format=qcow2,if=virtio`);
    const facts: PlanFacts = {
      kernel: { kernel: image.kernel, initrd, append: words.join(' ') },
      drives: boot.root === 'disk' ? [{ file: imageRootDisk(p), format: 'qcow2', bus: 'virtio' }] : [],
    };
    add(
      'boot',
      args,
      `the kit's ${boot.image} image: direct kernel boot${boot.root === 'disk' ? ', root on a qcow2 overlay of the image' : ', root in RAM'}; the lab key arrives on the command line`,
      facts,
    );
  }

  // Children's images: zero copy.  The files are handed over as read-only raw disks, so
  // inside, a child's overlay takes the device itself as its backing file.  Not a 9p or
  // virtiofs share: those block this VM's live snapshots and migration; a read-only disk does not.
  // On PCI slots 0x10 and up: the VM's own disks, placed by QEMU in the lowest free slots,
  // then come first and keep their names (root=/dev/vda); a carried disk in slot 2 would be vda.
  if (p.carry && p.carry.length > CARRY_SLOTS) throw new Error(`at most ${CARRY_SLOTS} images can be handed to one VM for its children, got ${p.carry.length}`);
  if (p.carry?.length)
    add(
      'carry',
      p.carry.flatMap((c, i) => [
        '-drive',
        `file=${optValue(c.file)},format=raw,if=none,readonly=on,id=carry${i}`,
        '-device',
        `virtio-blk-pci,drive=carry${i},serial=${c.serial},addr=0x${carrySlot(i).toString(16)}`,
      ]),
      `${p.carry.length} image${p.carry.length === 1 ? '' : 's'} for the children, read-only: their overlays inside back onto these disks (found by serial), nothing is copied, and live snapshots of this VM still work`,
      { drives: p.carry.map((c, i) => ({ file: c.file, format: 'raw', bus: 'virtio', readonly: true, serial: c.serial, pciSlot: carrySlot(i) })) },
    );

  // Network: QEMU user networking (guest 10.0.2.15 behind NAT 10.0.2.2); forwards bind
  // the spec's address, 127.0.0.1 by default, never every interface.
  const net = vm.network;
  const forwards = forwardsOf(vm);
  const hostfwd = forwards.map((f) => `hostfwd=${f.proto}:${f.bind}:${f.host}-:${f.guest}`);
  const netdev = ['user', 'id=net0', ...hostfwd].join(',');
  add(
    'network',
    ['-netdev', netdev, '-device', `${net.nic},netdev=net0`],
    `user-mode NAT${forwards.length ? `, ${forwards.map((f) => `${f.bind}:${f.host} → ${f.guest}`).join(', ')}` : ''}; ${net.nic}`,
    { netdev, nic: net.nic },
  );

  // Display and graphics.
  const display = vm.display === 'vnc' ? ['-display', 'none', '-vnc', '127.0.0.1:0,to=99'] : ['-display', vm.display];
  if (vm.vga) display.push('-vga', vm.vga);
  add('display', display, vm.display === 'gtk' ? 'a GTK window on the desktop' : vm.display === 'vnc' ? 'VNC on 127.0.0.1, first free display' : 'headless', {
    display: vm.display,
    vga: vm.vga,
  });

  // Accelerator switch, as hand-written command lines have it (the same as accel=kvm above).
  if (accel.accel === 'kvm') add('accel', ['-enable-kvm'], 'hardware acceleration');

  // Plumbing the kit needs to manage the VM: run in the background, a QMP socket to query
  // and stop it, a pidfile to find it, the serial console in a file to show on failure.
  add(
    'control',
    [
      '-daemonize',
      '-qmp',
      p.qmpTcpPort ? `tcp:127.0.0.1:${p.qmpTcpPort},server=on,wait=off` : `unix:${p.vm.qmp},server=on,wait=off`,
      '-pidfile',
      p.vm.pid,
      '-serial',
      `file:${p.vm.serial}`,
    ],
    'run in the background; QMP socket, pidfile and serial log in the VM’s state folder',
    { serialLog: p.vm.serial },
  );

  // Devices for charts and fast boots: the balloon reports guest memory to QMP, the RNG
  // feeds the guest's entropy pool so sshd does not stall at boot.
  add('devices', ['-device', 'virtio-balloon-pci', '-device', 'virtio-rng-pci'], 'memory statistics via the balloon; entropy from the host', {
    balloon: true,
    rng: true,
  });

  // A kit image serves the kit's shell on a virtio port: a resume asks the guest through it.
  if (servesPortShell(boot)) sections.push(portShellSection(p.vm));

  return sections;
}

export function qemuArgs(vm: VmResolved, kvm: KvmVerdict, p: ArgInputs): string[] {
  return qemuPlan(vm, kvm, p).flatMap((s) => s.args);
}
