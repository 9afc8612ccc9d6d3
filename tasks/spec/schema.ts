// tasks/spec/: the lab spec and nothing else — the zod schema, load → resolve → check, the tree
// of resolved VMs; pure but for reading the spec file, so every rule is unit-tested.
//
// The lab spec: one zod schema, every type inferred from it.
// What a user writes (LabInput) is parsed into LabParsed (sizes normalised, defaults that
// need no host facts filled); resolve.ts then fills host-dependent defaults and runs the
// cross-field checks.  Bare numbers: memory in MiB (like `-m`), disk size in bytes (like qemu-img).
import { z } from 'zod';
import { RESERVED_VM_NAMES } from '../util/paths.ts';
import { filePath, ipv4, MIN_MEMORY_MIB, name, port, size, text, typeError } from './fields.ts';

export { MIN_MEMORY_MIB, NAME_RE } from './fields.ts';

export const Forward = z.strictObject({
  host: port.describe('port on the parent side (the host, or the parent VM for nested guests)'),
  guest: port.describe('port inside the guest'),
  proto: z.enum(['tcp', 'udp']).default('tcp').describe('the protocol forwarded'),
  bind: ipv4.optional().describe('address to listen on; defaults to network.bind'),
});

export const Network = z.strictObject({
  sshPort: port
    .optional()
    .describe('forward this parent-side port to the guest’s port 22; a nested VM without one gets the lowest port from 2222 its siblings leave free'),
  forwards: z.array(Forward).default([]).describe('more ports from the parent side into the guest (QEMU user networking’s hostfwd)'),
  bind: ipv4.default('127.0.0.1').describe('listen address of every forward'),
  nic: z.enum(['virtio-net-pci', 'e1000']).default('virtio-net-pci').describe('the network card the guest sees'),
});

export const Disk = z.strictObject({
  file: filePath.describe(
    'image path; ~ is the home directory, a relative path is inside the VM’s state folder — on the machine the VM runs on (a nested VM’s disk is inside its parent)',
  ),
  size: size('B').optional().describe('virtual size, e.g. "40G"; needed unless a backing file gives it'),
  format: z.enum(['qcow2', 'raw']).default('qcow2').describe('the image format; snapshots need qcow2'),
  backing: filePath.optional().describe('backing image on this host: the disk is a copy-on-write overlay on it (a nested VM’s parent is handed it read-only)'),
  interface: z.enum(['virtio', 'ide', 'scsi']).default('virtio').describe('how the guest sees the disk'),
});

export const KernelBoot = z.strictObject({
  kernel: filePath.describe('boot this Linux kernel directly (QEMU -kernel)'),
  initrd: filePath.optional().describe('its initramfs'),
  append: text('line', 4000).default('console=ttyS0').describe('the kernel command line'),
});
export const IsoBoot = z.strictObject({ iso: filePath.describe('boot this CD image (an installer: see the install task)') });
/** The kit's own embedded guest image, built by the `image` task. */
export const ImageBoot = z.strictObject({
  image: z.enum(['tiny', 'tiny-nest']).describe('tiny: busybox + dropbear; tiny-nest: the same plus QEMU and the tiny image, to run children'),
  root: z.enum(['disk', 'ram']).default('disk').describe('disk: a qcow2 overlay on the image (snapshots work); ram: the initramfs only'),
  append: text('line', 4000).optional().describe('extra kernel command-line words'),
});
/**
 * A cloud image (Debian/Ubuntu genericcloud, or the kit's own `debian`): booted from a
 * qcow2 overlay (the image itself is never written) with a cloud-init NoCloud seed that
 * brings the spec's user, the lab's key and a host key the kit pins.
 */
export const CloudImageBoot = z.strictObject({
  cloudImage: filePath.describe('the image: a file path, or "debian" / "debian-nest" for the kit’s own (image debian; debian-nest adds QEMU to run children)'),
  kernel: filePath.optional().describe('boot this kernel directly (images without a boot loader)'),
  initrd: filePath.optional().describe('its initramfs (with kernel)'),
  append: text('line', 4000).optional().describe('extra kernel command-line words (with kernel)'),
  size: size('B').optional().describe('grow the overlay to this virtual size, e.g. "20G"'),
});
export const Boot = z.union([z.literal('disk'), KernelBoot, IsoBoot, ImageBoot, CloudImageBoot], {
  error: 'must be "disk", {kernel, initrd?, append?}, {iso}, {image: "tiny"}, or {cloudImage}',
});

export const Ssh = z.strictObject({
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, { error: 'must be a Unix user name' })
    .default('root')
    .describe('who the kit logs in as (a cloud image gets this user, with sudo)'),
  key: filePath.optional().describe('private key; defaults to the lab key made by the kit'),
});

/** Checks `smoke` runs; built-ins by name, or a command with what to expect of it. */
export const BUILTIN_CHECKS = ['ssh', 'kvm', 'disk', 'child-reachable'] as const;
const regexSource = z.string().refine(
  (src) => {
    try {
      new RegExp(src);
      return true;
    } catch {
      return false;
    }
  },
  { error: (iss) => `is not a valid regular expression: ${JSON.stringify(iss.input)}` },
);
export const CommandCheck = z.strictObject({
  name: text('line', 100, 'expected a check name').min(1).describe('what the check is called in reports'),
  run: text('lines', 20000, 'expected a shell command').min(1).describe('run by sh in the VM (on the host for host.checks)'),
  expect: z
    .strictObject({
      exitCode: z.number().int().min(0).max(255).default(0).describe('the exit code it must end with'),
      stdout: regexSource.optional().describe('a regular expression the output must match'),
      within: z.number().positive().max(3600).optional().describe('seconds to keep trying until it passes (default: one try)'),
    })
    .default({ exitCode: 0 })
    .describe('what passing means'),
});
export const Check = z.union([z.enum(BUILTIN_CHECKS), CommandCheck], {
  error: `must be a built-in check (${BUILTIN_CHECKS.join(', ')}) or {name, run, expect?: {exitCode?, stdout?, within?}}`,
});

/** What `nix-config` renders for a NixOS guest (see tasks/nix/render.ts). */
export const NixOs = z.strictObject({
  stateVersion: z
    .string()
    .regex(/^\d{2}\.\d{2}$/, { error: 'must be a NixOS release such as "23.11"' })
    .describe('system.stateVersion: the release the VM was first installed with'),
  bootloader: z.enum(['systemd-boot', 'grub']).default('systemd-boot').describe('systemd-boot (EFI) or GRUB (BIOS)'),
  grubDevice: z
    .string()
    .regex(/^\/dev\/[a-z0-9]+$/, { error: 'must be a disk such as /dev/vda' })
    .default('/dev/vda')
    .describe('where GRUB goes (grub only)'),
  desktop: z.enum(['none', 'sway']).default('none').describe('sway: programs.sway with swaylock, swayidle, mako, alacritty, dmenu and waybar'),
  networkmanager: z.boolean().default(true).describe('networking.networkmanager.enable'),
  timeZone: z
    .string()
    .regex(/^[A-Za-z_+-]+(\/[A-Za-z0-9_+-]+)*$/, { error: 'must be an IANA time zone such as Europe/Berlin' })
    .optional()
    .describe('time.timeZone'),
  packages: z
    .array(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_'-]*(\.[A-Za-z_][A-Za-z0-9_'-]*)*$/, { error: 'must be a nixpkgs attribute such as htop or python3Packages.pip' }),
    )
    .default([])
    .describe('extra nixpkgs attributes for environment.systemPackages'),
});

/**
 * A libvirt connection a top-level VM runs on: this host's libvirtd (qemu:///system), or a
 * server's over SSH (qemu+ssh://[user@]server[:port]/system), reached with `key` and checked
 * against the host key `knownHosts` pins; the kit never connects to an unknown one.
 */
export const Libvirt = z.strictObject({
  uri: z
    .string(typeError('expected a libvirt connection URI'))
    .regex(/^(qemu:\/\/\/system|qemu\+ssh:\/\/([a-z_][a-z0-9_.-]*@)?[A-Za-z0-9.-]+(:[0-9]{1,5})?\/system)$/, {
      error: "must be qemu:///system (this host's libvirtd) or qemu+ssh://[user@]server[:port]/system",
    })
    .describe('the libvirt connection: qemu:///system, or qemu+ssh://[user@]server[:port]/system'),
  key: filePath.optional().describe('qemu+ssh: the SSH private key for the server (default ~/.ssh/id_ed25519)'),
  knownHosts: filePath.optional().describe('qemu+ssh: the known_hosts file that pins the server’s host key (default ~/.ssh/known_hosts)'),
});

/** A VM's folder sits beside the lab's own entries (its keys in ssh/): a VM cannot take their names. */
const vmName = name.refine((n) => !(RESERVED_VM_NAMES as readonly string[]).includes(n), {
  error: (iss) => `"${String(iss.input)}" is kept for the lab's own folder beside its VMs' (reserved: ${RESERVED_VM_NAMES.join(', ')}); choose another name`,
});

const vmFields = {
  name: vmName.describe('unique in the lab: lowercase letters, digits and dashes, up to 63'),
  title: text('line', 200).optional().describe('display name, passed to QEMU -name'),
  os: text('line', 200).optional().describe('what runs inside, for charts and docs'),
  cpus: z
    .number(typeError('expected a whole number of CPUs'))
    .int()
    .min(1)
    .max(1024)
    .optional()
    .describe('virtual CPUs; default 2, at most the host’s (or the parent’s for a nested VM)'),
  memory: size('M', MIN_MEMORY_MIB).optional().describe(`RAM: 8192 (MiB), "8G" or "512M"; at least ${MIN_MEMORY_MIB} MiB`),
  disk: Disk.optional().describe('a disk image of the VM’s own (a boot from an image or a cloud image needs none)'),
  boot: Boot.optional().describe('what it boots: "disk" (default), a kernel, an ISO, the kit’s image, or a cloud image'),
  accel: z.enum(['auto', 'kvm', 'tcg']).default('auto').describe('auto: KVM where it is usable (probed), else TCG emulation'),
  cpu: z
    .string()
    .regex(/^[A-Za-z0-9_.,+=-]+$/, { error: 'must be a QEMU CPU model with optional +/- flags, e.g. "host,+vmx"' })
    .optional()
    .describe('CPU model; default host under KVM, max under TCG'),
  nested: z.boolean().optional().describe('expose virtualization to children; default true when the VM has children'),
  machine: z
    .string()
    .regex(/^[a-z0-9.-]+$/, { error: 'must be a QEMU machine type such as q35' })
    .default('q35')
    .describe('QEMU’s -machine type'),
  firmware: z.enum(['bios', 'uefi']).default('bios').describe('uefi: OVMF (Debian’s ovmf package) with a per-VM copy of its variable store'),
  network: Network.default({ forwards: [], bind: '127.0.0.1', nic: 'virtio-net-pci' }).describe(
    'user-mode NAT (the guest is 10.0.2.15) with ports forwarded from its parent side',
  ),
  display: z.enum(['none', 'gtk', 'vnc']).default('none').describe('a screen: none (the serial console goes to a log), a GTK window, or VNC on 127.0.0.1'),
  vga: z.enum(['virtio', 'std', 'none']).optional().describe('graphics card; QEMU’s default when absent'),
  ssh: Ssh.default({ user: 'root' }).describe('how the kit reaches the guest over SSH'),
  labels: z.record(text('line', 100), text('line', 500)).default({}).describe('free key → value pairs, shown in reports'),
  checks: z.array(Check).default([]).describe('what `smoke` checks in this VM'),
  nixos: NixOs.optional().describe('a NixOS guest: what `nix-config` renders into nix/VM/configuration.nix'),
  libvirt: Libvirt.optional().describe('a top-level VM only: run it as a libvirt domain on this connection (overrides host.libvirt)'),
};

const VmBase = z.strictObject(vmFields);
/** Field order of a VM, for canonical output. */
export const VM_KEYS = [...Object.keys(vmFields), 'children'] as const;
type VmShape = z.output<typeof VmBase> & { children?: VmShape[] };
type VmInputShape = z.input<typeof VmBase> & { children?: VmInputShape[] };

// Nested VMs run inside their parent; z.lazy lets the schema refer to itself.  The explicit
// type keeps TypeScript's inference finite.
export const Vm: z.ZodType<VmShape, VmInputShape> = VmBase.extend({
  children: z
    .lazy(() => z.array(Vm))
    .optional()
    .describe('VMs that run inside this one, each with these same fields'),
});

export const Host = z.strictObject({
  title: text('line', 200).default('this machine').describe('the host’s name in charts and reports'),
  os: text('line', 200).optional().describe('what the host runs, for charts and reports'),
  reserve: z
    .strictObject({
      memory: size('M').optional().describe('memory kept for the host'),
      cpus: z.number().int().min(0).optional().describe('CPUs kept for the host'),
    })
    .default({})
    .describe('what the host keeps for itself when charting allocation'),
  checks: z.array(CommandCheck).default([]).describe('what `smoke` checks on the host, before the VMs'),
  libvirt: Libvirt.optional().describe('run the top-level VMs as libvirt domains on this connection (children still nest inside their parent)'),
  qemu: filePath
    .optional()
    .describe(
      'the qemu-system-x86_64 that runs this lab’s VMs on this host (its qemu-img beside it), as libvirt’s <emulator>; default: GRAINCHART_QEMU, else the one on PATH',
    ),
});

export const Lab = z.strictObject({
  name: name.describe('the lab’s name: lowercase letters, digits and dashes (a lab in specs/ is named after its file)'),
  description: text('lines', 500).optional().describe('what the lab is for, in reports'),
  host: Host.default({ title: 'this machine', reserve: {}, checks: [] }).describe('the machine the top-level VMs run on'),
  vms: z.array(Vm).min(1, { error: 'a lab needs at least one VM' }).describe('the top-level VMs, on the host'),
});

export type LabInput = z.input<typeof Lab>;
export type VmInput = z.input<typeof Vm>;
export type LabParsed = z.output<typeof Lab>;
export type VmParsed = z.output<typeof Vm>;
export type BootSpec = z.output<typeof Boot>;
export type DiskSpec = z.output<typeof Disk>;
export type CheckSpec = z.output<typeof Check>;
export type NixOsSpec = z.output<typeof NixOs>;
export type LibvirtSpec = z.output<typeof Libvirt>;
export type CommandCheckSpec = z.output<typeof CommandCheck>;
