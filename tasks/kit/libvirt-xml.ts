// A VM's plan as a libvirt domain: the same sections `qemuArgs` flattens into QEMU's command
// line, read through their facts, so the domain and the kit's own QEMU cannot drift apart.
// Pure: nothing read, nothing spawned.  What libvirt has an element for is written as one
// (kernel, disks, CPU, serial log, balloon, RNG); user-mode networking with host forwards is
// not (Debian 12's libvirt 9.0 refuses <backend type='passt'/>, libvirt issue 462, and SLIRP
// has no <portForward>), so it goes in <qemu:commandline>, the NIC at a fixed PCI slot: left
// to libvirt's root ports, it collides with them (measured here, ../shared/lab-notes.md).
import { planFacts, type ArgSection, type PlanDrive } from './qemu-args.ts';

/** libvirt's name for a kit VM: recognisable in `virsh list` and virt-manager, one per lab and VM. */
export const domainName = (lab: string, vm: string) => `grainchart-${lab}-${vm}`;

/** The NIC's slot on the root bus: above the carried disks' 0x10–0x1b, below the chipset's 0x1f. */
export const NIC_SLOT = 0x1c;

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
}

/** The domain XML for `plan` (explain's plan for the VM: the boot's own inputs). */
export function domainXml(plan: ArgSection[], o: DomainOptions): string {
  const f = planFacts(plan);
  if (!f.name || !f.machine || !f.accel || !f.cpuModel || !f.cpus || !f.memoryMiB) throw new Error('the plan lacks the name, machine, CPU or memory a domain needs');
  const drives = f.drives ?? [];
  if (drives.some((d) => d.bus === 'scsi')) throw new Error('a SCSI disk has no libvirt domain here yet: use interface virtio or ide');
  // The kit keeps UEFI variables in qcow2 (so snapshots take them along); libvirt 9.0's <nvram>
  // has no format and reads raw, so that domain would boot with its variables unreadable.
  if (f.firmware) throw new Error('a UEFI VM has no libvirt domain here yet: its variable store is qcow2, and libvirt 9.0 reads <nvram> as raw');
  // The CD-ROM after every disk, on SATA (q35's IDE).
  const names = targets([...drives.map((d) => d.bus), ...(f.cdrom ? ['ide' as const] : [])]);
  const a = xmlText;
  const lines: string[] = [];
  const put = (depth: number, line: string) => lines.push('  '.repeat(depth) + line);

  put(0, `<domain type='${domainType(plan)}' xmlns:qemu='${QEMU_NS}'>`);
  put(1, `<name>${a(domainName(o.lab, f.name))}</name>`);
  if (o.uuid) put(1, `<uuid>${a(o.uuid)}</uuid>`);
  put(1, `<title>${a(f.title ?? f.name)}</title>`);
  put(1, `<description>grainchart lab ${a(o.lab)}, VM ${a(f.name)}</description>`);
  put(1, `<memory unit='MiB'>${f.memoryMiB}</memory>`);
  put(1, `<vcpu>${f.cpus}</vcpu>`);
  put(1, '<os>');
  put(2, `<type arch='x86_64' machine='${a(f.machine)}'>hvm</type>`);
  if (f.kernel) {
    put(2, `<kernel>${a(f.kernel.kernel)}</kernel>`);
    if (f.kernel.initrd) put(2, `<initrd>${a(f.kernel.initrd)}</initrd>`);
    put(2, `<cmdline>${a(f.kernel.append)}</cmdline>`);
  }
  if (f.bootFrom) put(2, `<boot dev='${f.bootFrom}'/>`);
  put(1, '</os>');
  put(1, '<features>');
  put(2, '<acpi/>');
  put(2, '<apic/>');
  put(1, '</features>');
  for (const line of cpuXml(f.cpuModel)) put(1, line);
  put(1, `<clock offset='utc'/>`);
  put(1, '<on_poweroff>destroy</on_poweroff>');
  put(1, '<on_reboot>restart</on_reboot>');
  put(1, '<on_crash>destroy</on_crash>');
  put(1, '<devices>');
  put(2, `<emulator>${a(o.emulator)}</emulator>`);
  // The kit's QEMU has no USB controller; libvirt adds one unless told (a device fewer to boot).
  put(2, `<controller type='usb' model='none'/>`);
  drives.forEach((d, i) => {
    put(2, `<disk type='file' device='disk'>`);
    put(3, `<driver name='qemu' type='${d.format}'/>`);
    put(3, `<source file='${a(d.file)}'/>`);
    put(3, `<target dev='${names[i]}' bus='${d.bus === 'ide' ? 'sata' : d.bus}'/>`);
    if (d.readonly) put(3, '<readonly/>');
    if (d.serial) put(3, `<serial>${a(d.serial)}</serial>`);
    if (d.pciSlot !== undefined) put(3, `<address type='pci' domain='0x0000' bus='0x00' slot='${hex(d.pciSlot)}' function='0x0'/>`);
    put(2, '</disk>');
  });
  if (f.cdrom) {
    put(2, `<disk type='file' device='cdrom'>`);
    put(3, `<driver name='qemu' type='raw'/>`);
    put(3, `<source file='${a(f.cdrom)}'/>`);
    put(3, `<target dev='${names[drives.length]}' bus='sata'/>`);
    put(3, '<readonly/>');
    put(2, '</disk>');
  }
  // The serial console in a file, as the kit's own QEMU keeps it: status and failed boots read it.
  if (f.serialLog) {
    put(2, `<serial type='file'>`);
    put(3, `<source path='${a(f.serialLog)}'/>`);
    put(3, `<target port='0'/>`);
    put(2, '</serial>');
  }
  // A window (gtk) is what virt-manager's console is for under libvirt: VNC on 127.0.0.1 serves both.
  if (f.display === 'vnc' || f.display === 'gtk') put(2, `<graphics type='vnc' autoport='yes' listen='127.0.0.1'/>`);
  if (f.vga) put(2, `<video><model type='${f.vga === 'std' ? 'vga' : f.vga}'/></video>`);
  if (f.balloon) put(2, `<memballoon model='virtio'/>`);
  if (f.rng) put(2, `<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>`);
  put(1, '</devices>');
  // User-mode networking with the plan's forwards, as the plan's own -netdev has them.
  put(1, '<qemu:commandline>');
  const rootBus = f.machine.startsWith('pc') ? 'pci.0' : 'pcie.0';
  const runtime = o.runtime ? ['-qmp', `unix:${o.runtime.qmp},server=on,wait=off`, '-pidfile', o.runtime.pidfile] : [];
  const nic = ['-netdev', f.netdev ?? 'user,id=net0', '-device', `${f.nic ?? 'virtio-net-pci'},netdev=net0,bus=${rootBus},addr=${hex(NIC_SLOT)}`];
  for (const arg of [...nic, ...runtime, ...(o.extra ?? [])]) put(2, `<qemu:arg value='${a(arg)}'/>`);
  put(1, '</qemu:commandline>');
  put(0, '</domain>');
  return lines.join('\n') + '\n';
}
