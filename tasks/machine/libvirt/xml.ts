// A VM's plan as a libvirt domain: the same sections `qemuArgs` flattens into QEMU's command
// line, read through their facts, so the domain and the kit's own QEMU cannot drift apart.
// Pure: nothing read, nothing spawned.  What libvirt has an element for is written as one
// (kernel, disks — the pool's volumes, where they are in it —, CPU, serial log, balloon, RNG),
// and so are the overlay volumes the pool makes; user-mode networking with host forwards is
// not (Debian 12's libvirt 9.0 refuses <backend type='passt'/>, libvirt issue 462, and SLIRP
// has no <portForward>), so it goes in <qemu:commandline>, the NIC at a fixed PCI slot: left
// to libvirt's root ports, it collides with them (measured with libvirt 9.0).
import { posix } from 'node:path';
import { planFacts, type ArgSection, type PlanDrive } from '../../qemu/plan.ts';
import { isQ35 } from '../../qemu/machine-type.ts';

/** libvirt's name for a kit VM: recognisable in `virsh list` and virt-manager, one per lab and VM. */
export const domainName = (lab: string, vm: string) => `grainchart-${lab}-${vm}`;

/** The NIC's slot on the root bus: above the carried disks' 0x10–0x1b, below the chipset's 0x1f. */
export const NIC_SLOT = 0x1c;

/**
 * On q35 every device sits on the root bus, as in the kit's own QEMU: left without an address,
 * libvirt puts each behind a PCIe root port of its own (and adds a spare), hardware the same
 * guest does not have under the kit's QEMU and must enumerate at every boot.  Disks from 0x02
 * in the plan's order (video, if any, is libvirt's at 0x01), up to the carried disks' 0x10;
 * the balloon and the RNG beside the NIC.
 */
export const Q35_SLOTS = { firstDisk: 0x02, lastDisk: 0x0f, balloon: 0x1d, rng: 0x1e } as const;

const QEMU_NS = 'http://libvirt.org/schemas/domain/qemu/1.0';

/** Text and attribute values: the five characters XML gives meaning to. */
export const xmlText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;

/** libvirt's disk names by bus: vda, vdb, … on virtio; sda, … on SATA (q35's IDE) and SCSI. */
function targets(buses: PlanDrive['bus'][]): string[] {
  const next: Record<string, number> = {};
  return buses.map((bus) => {
    const prefix = bus === 'virtio' ? 'vd' : 'sd';
    const i = (next[prefix] = (next[prefix] ?? -1) + 1);
    return prefix + String.fromCharCode(97 + i);
  });
}

/**
 * QEMU's -cpu value as libvirt's <cpu>: host → pass-through, max (TCG, svm included) →
 * 'maximum', another name → that model; each +flag required and -flag disabled.
 */
export function cpuXml(model: string): string[] {
  const [base, ...flags] = model.split(',');
  const open = base === 'host' ? `<cpu mode='host-passthrough'` : base === 'max' ? `<cpu mode='maximum'` : `<cpu mode='custom' match='exact'`;
  const inner = [
    ...(base === 'host' || base === 'max' ? [] : [`  <model fallback='forbid'>${xmlText(base!)}</model>`]),
    ...flags.map((f) => {
      const m = /^([+-])([\w.-]+)$/.exec(f);
      if (!m) throw new Error(`cpu flag "${f}" of "${model}" is not +name or -name`);
      return `  <feature policy='${m[1] === '+' ? 'require' : 'disable'}' name='${xmlText(m[2]!)}'/>`;
    }),
  ];
  return inner.length ? [`${open}>`, ...inner, '</cpu>'] : [`${open}/>`];
}

/** libvirt's domain type for the plan: 'kvm' only where it chose KVM, else 'qemu' (TCG). */
export const domainType = (plan: ArgSection[]): 'kvm' | 'qemu' => (planFacts(plan).accel === 'kvm' ? 'kvm' : 'qemu');

export interface DomainOptions {
  lab: string;
  /** The emulator libvirt should run (the host's qemu-system-x86_64). */
  emulator: string;
  /**
   * The kit's own QMP socket and pidfile beside libvirt's monitor, when the kit runs the
   * domain: its boot, stop ladder, status and charts then read the QEMU as they read one of
   * their own (libvirt keeps its monitor to itself, and writes no pidfile QEMU names).
   */
  runtime?: { qmp: string; pidfile: string };
  /** QEMU arguments after the plan's (-loadvm on a resume). */
  extra?: string[];
  /** The domain's UUID when it is defined already: libvirt redefines a name only with its own UUID. */
  uuid?: string;
  /** The kit's storage pool: a disk directly in its folder is named as the pool's volume (virt-manager then shows it so). */
  pool?: { name: string; dir: string };
}

/** Where a section's lines go in the domain, each container's own lines (indented inside it). */
export const DOMAIN_PLACES = ['top', 'os', 'cpu', 'devices', 'commandline'] as const;
export type DomainPlace = (typeof DOMAIN_PLACES)[number];

/** What one plan section becomes in the domain: its lines by where they go. */
export interface DomainPart {
  section: string;
  lines: Record<DomainPlace, string[]>;
}

/**
 * The domain, section by section of the plan, from each section's own facts: what `explain`
 * shows beside the argv, and what domainXml assembles (so the two cannot differ).
 */
export function domainParts(plan: ArgSection[], o: DomainOptions): DomainPart[] {
  const f = planFacts(plan);
  if (!f.name || !f.machine || !f.accel || !f.cpuModel || !f.cpus || !f.memoryMiB)
    throw new Error('the plan lacks the name, machine, CPU or memory a domain needs');
  const drives = f.drives ?? [];
  if (drives.some((d) => d.bus === 'scsi')) throw new Error('a SCSI disk has no libvirt domain here yet: use interface virtio or ide');
  // The kit keeps UEFI variables in qcow2 (so snapshots take them along); libvirt 9.0's <nvram>
  // has no format and reads raw, so that domain would boot with its variables unreadable.
  if (f.firmware) throw new Error('a UEFI VM has no libvirt domain here yet: its variable store is qcow2, and libvirt 9.0 reads <nvram> as raw');
  // Disk names over the whole plan, the CD-ROM after every disk, on SATA (q35's IDE).
  const names = targets([...drives.map((d) => d.bus), ...(f.cdrom ? ['ide' as const] : [])]);
  const rootBus = isQ35(f.machine) ? 'pcie.0' : 'pci.0';
  const a = xmlText;
  const onRootBus = (slot: number) => `<address type='pci' domain='0x0000' bus='0x00' slot='${hex(slot)}' function='0x0'/>`;
  // i440fx ('pc') has no root ports to avoid, and libvirt's own slot rules there (video at 0x02).
  const q35 = rootBus === 'pcie.0';
  let diskSlot: number = Q35_SLOTS.firstDisk;
  const slotOf = (d: PlanDrive) => d.pciSlot ?? (q35 && d.bus === 'virtio' && diskSlot <= Q35_SLOTS.lastDisk ? diskSlot++ : undefined);
  let drive = 0;
  return plan.map(({ section, facts: x = {} }) => {
    const l: Record<DomainPlace, string[]> = { top: [], os: [], cpu: [], devices: [], commandline: [] };
    if (x.name) {
      l.top.push(`<name>${a(domainName(o.lab, x.name))}</name>`);
      if (o.uuid) l.top.push(`<uuid>${a(o.uuid)}</uuid>`);
      l.top.push(`<title>${a(x.title ?? x.name)}</title>`, `<description>grainchart lab ${a(o.lab)}, VM ${a(x.name)}</description>`);
    }
    if (x.memoryMiB) l.top.push(`<memory unit='MiB'>${x.memoryMiB}</memory>`);
    if (x.cpus) l.top.push(`<vcpu>${x.cpus}</vcpu>`);
    // libvirt has no element for QEMU's firmware folders: a QEMU unpacked into a folder gets them as arguments.
    if (x.dataDirs?.length) l.commandline.push(...qemuArgLines(x.dataDirs.flatMap((d) => ['-L', d])));
    if (x.machine) l.os.push(`<type arch='x86_64' machine='${a(x.machine)}'>hvm</type>`);
    if (x.kernel) {
      l.os.push(`<kernel>${a(x.kernel.kernel)}</kernel>`);
      if (x.kernel.initrd) l.os.push(`<initrd>${a(x.kernel.initrd)}</initrd>`);
      l.os.push(`<cmdline>${a(x.kernel.append)}</cmdline>`);
    }
    if (x.bootFrom) l.os.push(`<boot dev='${x.bootFrom}'/>`);
    if (x.cpuModel) l.cpu.push(...cpuXml(x.cpuModel));
    for (const d of x.drives ?? []) {
      const volume = o.pool && volumeAt(d.file, o.pool.dir);
      const source = volume ? `  <source pool='${a(o.pool!.name)}' volume='${a(volume)}'/>` : `  <source file='${a(d.file)}'/>`;
      l.devices.push(
        `<disk type='${volume ? 'volume' : 'file'}' device='disk'>`,
        `  <driver name='qemu' type='${d.format}'/>`,
        source,
        `  <target dev='${names[drive++]}' bus='${d.bus === 'ide' ? 'sata' : d.bus}'/>`,
      );
      if (d.readonly) l.devices.push('  <readonly/>');
      if (d.serial) l.devices.push(`  <serial>${a(d.serial)}</serial>`);
      const slot = slotOf(d);
      if (slot !== undefined) l.devices.push(`  ${onRootBus(slot)}`);
      l.devices.push('</disk>');
    }
    if (x.cdrom)
      l.devices.push(
        `<disk type='file' device='cdrom'>`,
        `  <driver name='qemu' type='raw'/>`,
        `  <source file='${a(x.cdrom)}'/>`,
        `  <target dev='${names[drives.length]}' bus='sata'/>`,
        '  <readonly/>',
        '</disk>',
      );
    // The serial console in a file, as the kit's own QEMU keeps it: status and failed boots read it.
    if (x.serialLog) l.devices.push(`<serial type='file'>`, `  <source path='${a(x.serialLog)}'/>`, `  <target port='0'/>`, '</serial>');
    // A window (gtk) is what virt-manager's console is for under libvirt: VNC on 127.0.0.1 serves both.
    if (x.display === 'vnc' || x.display === 'gtk') l.devices.push(`<graphics type='vnc' autoport='yes' listen='127.0.0.1'/>`);
    if (x.vga) l.devices.push(`<video><model type='${x.vga === 'std' ? 'vga' : x.vga}'/></video>`);
    if (x.balloon)
      l.devices.push(...(q35 ? [`<memballoon model='virtio'>`, `  ${onRootBus(Q35_SLOTS.balloon)}`, '</memballoon>'] : [`<memballoon model='virtio'/>`]));
    if (x.rng)
      l.devices.push(`<rng model='virtio'>`, `  <backend model='random'>/dev/urandom</backend>`, ...(q35 ? [`  ${onRootBus(Q35_SLOTS.rng)}`] : []), '</rng>');
    // User-mode networking with the plan's forwards, as the plan's own -netdev has them.
    if (x.netdev !== undefined || x.nic)
      l.commandline.push(
        ...qemuArgLines(['-netdev', x.netdev ?? 'user,id=net0', '-device', `${x.nic ?? 'virtio-net-pci'},netdev=net0,bus=${rootBus},addr=${hex(NIC_SLOT)}`]),
      );
    // The kit's own QMP socket and pidfile ride with the section that has QEMU's runtime files.
    if (x.serialLog && o.runtime) l.commandline.push(...qemuArgLines(['-qmp', `unix:${o.runtime.qmp},server=on,wait=off`, '-pidfile', o.runtime.pidfile]));
    return { section, lines: l };
  });
}

/** A part's lines as they read in the domain: inside their container (<os>, <devices>, …) unless at the top. */
export function partLines(part: DomainPart): string[] {
  const open: Record<DomainPlace, string | undefined> = { top: undefined, cpu: undefined, os: 'os', devices: 'devices', commandline: 'qemu:commandline' };
  return DOMAIN_PLACES.flatMap((place) => {
    const ls = part.lines[place];
    const tag = open[place];
    return !ls.length ? [] : tag ? [`<${tag}>`, ...ls.map((l) => `  ${l}`), `</${tag}>`] : ls;
  });
}

/** A file directly in a dir pool's folder is one of its volumes (libvirt lists no deeper): its name there. */
export const volumeAt = (file: string, dir: string): string | undefined => (posix.dirname(file) === dir ? posix.basename(file) : undefined);

export interface VolumeSpec {
  name: string;
  capacityBytes: number;
  /** The volume it is an overlay of (its path), and that one's format. */
  backing?: { path: string; format: 'qcow2' | 'raw' };
}

/**
 * A qcow2 volume for `virsh vol-create`: an overlay backed by an image's volume, or blank.
 * compat 1.1 as qemu-img makes them (vol-create-as would make 0.10, which cannot keep zero
 * clusters).
 */
export function volumeXml(v: VolumeSpec): string {
  const a = xmlText;
  return [
    '<volume>',
    `  <name>${a(v.name)}</name>`,
    `  <capacity unit='bytes'>${v.capacityBytes}</capacity>`,
    `  <target><format type='qcow2'/><compat>1.1</compat></target>`,
    ...(v.backing ? [`  <backingStore><path>${a(v.backing.path)}</path><format type='${v.backing.format}'/></backingStore>`] : []),
    '</volume>',
    '',
  ].join('\n');
}

const qemuArgLines = (args: string[]) => args.map((arg) => `<qemu:arg value='${xmlText(arg)}'/>`);

/** The domain XML for `plan` (explain's plan for the VM: the boot's own inputs). */
export function domainXml(plan: ArgSection[], o: DomainOptions): string {
  const parts = domainParts(plan, o);
  const all = (place: DomainPlace) => parts.flatMap((p) => p.lines[place]);
  const lines: string[] = [];
  const put = (depth: number, ...ls: string[]) => lines.push(...ls.map((l) => '  '.repeat(depth) + l));
  put(0, `<domain type='${domainType(plan)}' xmlns:qemu='${QEMU_NS}'>`);
  put(1, ...all('top'));
  put(1, '<os>');
  put(2, ...all('os'));
  put(1, '</os>');
  put(1, '<features>', '  <acpi/>', '  <apic/>', '</features>');
  put(1, ...all('cpu'));
  put(1, `<clock offset='utc'/>`, '<on_poweroff>destroy</on_poweroff>', '<on_reboot>restart</on_reboot>', '<on_crash>destroy</on_crash>');
  put(1, '<devices>');
  put(2, `<emulator>${xmlText(o.emulator)}</emulator>`);
  // The kit's QEMU has no USB controller; libvirt adds one unless told (a device fewer to boot).
  put(2, `<controller type='usb' model='none'/>`);
  put(2, ...all('devices'));
  put(1, '</devices>');
  put(1, '<qemu:commandline>');
  put(2, ...all('commandline'), ...qemuArgLines(o.extra ?? []));
  put(1, '</qemu:commandline>');
  put(0, '</domain>');
  return `${lines.join('\n')}\n`;
}
