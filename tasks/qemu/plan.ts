// The plan's shape: QEMU's command line as sections, each with the flags it adds, why, and what
// it means (facts) for renderings other than the command line — a libvirt domain, explain, doc.
/** QEMU splits option values on commas; a literal comma is written twice. */
export const optValue = (value: string) => value.replaceAll(',', ',,');

export interface ArgSection {
  section: string;
  args: string[];
  note: string;
  /** What the args mean, for renderings other than QEMU's command line (a libvirt domain, machine/libvirt/xml.ts). */
  facts?: PlanFacts;
}

/** A disk as the plan attaches it, in QEMU's order. */
export interface PlanDrive {
  file: string;
  format: 'qcow2' | 'raw';
  bus: 'virtio' | 'ide' | 'scsi';
  readonly?: boolean;
  /** The virtio serial a parent finds a carried disk by. */
  serial?: string;
  /** A fixed slot on the root PCI bus (the carried disks'). */
  pciSlot?: number;
}

/** The meaning of the plan's sections, merged (drives in order): see planFacts. */
export interface PlanFacts {
  name?: string;
  title?: string;
  machine?: string;
  accel?: 'kvm' | 'tcg';
  firmware?: { code: string; vars: string };
  cpuModel?: string;
  /** Firmware folders searched first (-L): a QEMU unpacked into a folder brings its own. */
  dataDirs?: string[];
  cpus?: number;
  memoryMiB?: number;
  /** The file the guest's RAM is mapped from, where its machine keeps RAM in files. */
  ramFile?: string;
  drives?: PlanDrive[];
  cdrom?: string;
  kernel?: { kernel: string; initrd?: string; append: string };
  bootFrom?: 'hd' | 'cdrom';
  /** The -netdev value: user-mode NAT with the forwards (127.0.0.1 unless the spec says otherwise). */
  netdev?: string;
  nic?: string;
  display?: 'none' | 'gtk' | 'vnc';
  vga?: 'virtio' | 'std' | 'none';
  serialLog?: string;
  balloon?: boolean;
  rng?: boolean;
  /** The kit's port shell: its FIFOs' common path (QEMU adds .in and .out). */
  shellPipe?: string;
}

/** Every section's facts in one record; drives are appended in the order QEMU attaches them. */
export function planFacts(plan: ArgSection[]): PlanFacts {
  const all: PlanFacts = { drives: [] };
  for (const { facts } of plan) if (facts) Object.assign(all, facts, { drives: [...all.drives!, ...(facts.drives ?? [])] });
  return all;
}
