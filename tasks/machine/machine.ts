// tasks/machine/: where a VM's QEMU runs, behind one interface, so nothing above asks which
// machine it has; the only room that knows the compositions.
//
// The machine a VM's QEMU runs on.  Boot, stop, status, stats and snapshots are written once
// against this interface and never ask which machine they have; lima keeps its backends
// behind pkg/driver the same way, and the NixOS test driver keeps "how QEMU starts" in an
// object of its own.  Two questions make a machine, answered apart and composed:
//   how it is reached — this host (host.ts), or one SSH session (over-ssh.ts);
//   who starts QEMU there — the kit itself, or libvirtd (libvirt/machine.ts, over either).
// So this host, a guest of the lab (guest.ts), this host's libvirtd and a server's over
// qemu+ssh are compositions, not four classes; machine-for.ts picks one per place.
// The verbs are coarse on purpose: inside a TCG parent every command forks on an emulated
// CPU, so one `sample` answers liveness, CPU ticks, RSS, uptime and disk figures.
import { posix } from 'node:path';
import type { Duplex } from 'node:stream';
import type { DomainReading } from './libvirt/domstats.ts';
import type { KvmFacts, KvmVerdict } from '../qemu/host-probe.ts';
import type { VmPaths } from '../util/paths.ts';
import type { QmpClient } from '../qemu/qmp.ts';
import type { ArgSection } from '../qemu/plan.ts';
import type { Forward, LabResolved, VmPlace } from '../spec/tree.ts';
import type { VmState } from './record.ts';

/** A VM's QEMU as its machine knows it: the runtime files there, and where its QMP listens. */
export interface QemuRef {
  name: string;
  paths: VmPaths;
  /** QMP on this loopback TCP port of the machine (guests: reached through SSH); else the unix socket paths.qmp. */
  qmpPort?: number;
  /** On a libvirt machine: the lab, and the domain it runs as. */
  libvirt?: { lab: string; domain: string };
}

export interface MachineProbe {
  kvmFacts: KvmFacts;
  kvm: KvmVerdict;
  memoryMiB: number;
  cpus: number;
  /** qemu-system-x86_64 there; undefined when it is missing. */
  qemu?: string;
  qemuVersion?: string;
  qemuImg: boolean;
  /** The asked forwards whose port is taken there, with who holds it when that is known. */
  taken: Array<{ forward: Forward; holder?: string }>;
}

/** One read of a QEMU's /proc: the machine's uptime then, its stat line, and each thread's. */
export interface ProcReading {
  uptimeS: number;
  stat: string;
  /** Thread id → its /proc/PID/task/TID/stat line (vCPU threads among them). */
  tasks: Record<number, string>;
}

export interface DiskFigures {
  virtualBytes: number;
  allocatedBytes: number;
}

export interface QemuSample {
  /** The pidfile's pid (else the given fallback). */
  pid?: number;
  /** A pidfile exists there. */
  pidfile: boolean;
  /** That pid is a live QEMU started with this VM's pidfile (never signal anything else). */
  alive: boolean;
  uptimeS?: number;
  rssKiB?: number;
  /** With `windowMs` > 0: the reading that opens the window. */
  start?: ProcReading;
  /** With `windowMs` ≥ 0: the reading that closes it. */
  end?: ProcReading;
  /** Per asked disk: its figures, or why they could not be read. */
  disks: Record<string, DiskFigures | { error: string }>;
}

export interface SampleOptions {
  /** Ask about this pid, not the pidfile's. */
  pid?: number;
  /** Used when there is no pidfile. */
  fallbackPid?: number;
  /** Read /proc of a live QEMU: once (0), or twice this far apart; undefined: liveness only. */
  windowMs?: number;
  /** Files whose virtual and allocated size to read (qcow2 header, or a raw file's size). */
  disks?: string[];
}

/** A qcow2 disk to make there: an overlay on `backing`, or a blank one of `size`. */
export interface Overlay {
  file: string;
  backing?: string;
  backingFormat?: 'qcow2' | 'raw';
  /** Bytes: a blank disk's size, or an overlay grown past its backing's. */
  size?: number;
  /** Replace an existing one (boot --fresh); else an existing disk is kept. */
  replace?: boolean;
}

/**
 * A machine's own way to save a running VM whole and start it from there later (libvirt's
 * managed save: the domain's RAM in libvirt's file, which `virsh start` loads and then
 * removes; virt-manager shows the domain as saved).
 */
export interface ManagedSave {
  /** Saves ref's VM and ends its QEMU. */
  save(ref: QemuRef): Promise<void>;
  /** A save is waiting: the next start loads it. */
  has(ref: QemuRef): Promise<boolean>;
  /** Throws the save away: the next start boots cold. */
  drop(ref: QemuRef): Promise<void>;
}

export interface Machine {
  /** For messages: "on this host", "inside l1", "on libvirt qemu:///system". */
  readonly where: string;
  /** Appended to messages about a VM there: '' on this host (the default place), " inside l1". */
  readonly at: string;
  /** The VM this machine is, for a guest; undefined for this host. */
  readonly inside?: string;
  /** What to do when QEMU is missing there. */
  readonly installHint: string;
  /** Every call forks on an emulated CPU (a guest under TCG): poll it less often, give connections longer. */
  readonly slow: boolean;
  /** How often the connection to this machine ended and a new one was made (a machine reached over SSH). */
  readonly reconnects?: number;
  /** Its files are this host's (this host, its libvirtd): made and read here, not through a session. */
  readonly local: boolean;
  /** QEMU there opens this host's files where they are (this host's own QEMU); elsewhere a file is put there first. */
  readonly readsHostFiles: boolean;
  /**
   * The file a top-level VM's RAM is mapped from while it runs there, or undefined when its RAM
   * is QEMU's own (machine/ram-file.ts): this host's own QEMU keeps it in memory (a tmpfs) where
   * that has room for all of it (a guest touching a page of a file that cannot grow is killed),
   * so `suspend` saves the devices and copies the touched pages to the VM's folder, and `resume`
   * maps them back.  Absent where a machine never does so: a guest's children live in its RAM
   * already; libvirt keeps its managed save.  A plan (`explain`, `doc`) assumes the room, so it
   * reads the same on every host: `room: 'assumed'`.
   */
  ramFileFor?(ref: QemuRef, memoryMiB: number, room?: 'checked' | 'assumed'): string | undefined;
  /** The firmware folders its QEMU is told to search first (-L): a QEMU unpacked into a folder (qemu/which.ts). */
  qemuDataDirs?(): string[];
  /**
   * Where this machine keeps its copy of a file of this host's image folders (the kit's image
   * cache, a folder of cloud images), named by that folder and the file, beside its VMs' folders.
   */
  stashPath(ref: QemuRef, folder: string, file: string): string;
  /** The home folder there, for `~/` in spec paths. */
  readonly home: string;
  /** The QEMU of `place` as this machine keeps it; `record` is the host's state file, which may name the QMP port. */
  ref(lab: LabResolved, place: VmPlace, record?: VmState): QemuRef;
  /** One round trip: KVM facts and verdict, memory, CPUs, QEMU and qemu-img, and which of `forwards` are taken. */
  probe(forwards?: Forward[]): Promise<MachineProbe>;
  sample(ref: QemuRef, opts?: SampleOptions): Promise<QemuSample>;
  /** Signals `pid` only while it is ref's QEMU; false when it was not (any longer). */
  signal(ref: QemuRef, pid: number, sig: 'SIGTERM' | 'SIGKILL'): Promise<boolean>;
  qmp(ref: QemuRef, timeoutMs?: number): Promise<QmpClient>;
  /** A stream to a TCP port there, resolved once connected. */
  dial(port: number, host?: string): Promise<Duplex>;
  /** The last `lines` lines of a file there ('' when it does not exist). */
  tail(file: string, lines: number): Promise<string>;
  /** A file's size there in bytes; undefined when there is none. */
  fileSize(file: string): Promise<number | undefined>;
  /** The VM's folder (0700) with no runtime files left and an empty serial log (0600); then the overlays (0600). */
  prepare(ref: QemuRef, overlays?: Overlay[]): Promise<void>;
  /**
   * Starts QEMU daemonized with `args`, which are `plan`'s followed by any extra (-loadvm);
   * its stderr is kept in ref.paths.stderr.  A libvirt machine defines a domain from the plan.
   */
  start(ref: QemuRef, args: string[], plan?: ArgSection[]): Promise<{ code: number | null; pid?: number; stderr: string; command: string[] }>;
  /** Removes what a dead QEMU leaves behind: pidfile and QMP socket. */
  cleanRuntime(ref: QemuRef): Promise<void>;
  /** Copies a local file there (mode 0600); `keep`: not when a file of the same size is there already. */
  put(local: string, remote: string, opts?: { keep?: boolean }): Promise<void>;
  /** Runs a program there (an argv, never a shell string); throws a TaskError when it fails. */
  run(argv: string[], timeoutMs?: number): Promise<string>;
  /**
   * Why this machine can run nothing any more — the VM it is ended, or its kernel panicked —
   * read from where that VM's QEMU runs; undefined while it lives.  Only a guest has it: a
   * panicked guest answers nothing, and its SSH session would only time out.  `answering`
   * (after something failed in it; it costs a command there): also lost when it runs no
   * command within 20 s, a guest hung without a word on its console.
   */
  lost?(o?: { answering?: boolean }): Promise<string | undefined>;
  /**
   * Forgets a stopped VM the machine keeps a record of its own for (a libvirt domain's
   * definition, and its disks and files in the pool); what it removed, or undefined when it
   * keeps nothing of the kind.
   */
  forget?(ref: QemuRef): Promise<string | undefined>;
  /**
   * A snapshot of ref's disks was made (`saved`, with the VM state when `live`) or removed by
   * the kit, in the qcow2: a machine with a catalogue of its own (libvirt's, which virsh
   * snapshot-list and virt-manager show) records it there as well.
   */
  noteSnapshot?(ref: QemuRef, name: string, change: { saved: boolean; live: boolean }): Promise<void>;
  /** `suspend` saves a top-level VM here this way, not as a snapshot in its qcow2. */
  readonly managedSave?: ManagedSave;
  /** The word of a machine that runs VMs as domains of its own (libvirt's `domstate --reason`); undefined when it does not know ref. */
  domainState?(ref: QemuRef): Promise<string | undefined>;
  /** Such a machine's own figures of ref (libvirt's `domstats`), with when they were read (performance.now()). */
  domainStats?(ref: QemuRef): Promise<{ at: number; reading: DomainReading }>;
}

/** Where a machine keeps what it is handed: beside its VMs' folders (…/LAB/VM). */
export const handedBase = (ref: QemuRef) => posix.dirname(posix.dirname(posix.dirname(ref.paths.dir)));

/** A stashed image file in a folder of its own under the handed base (images/FOLDER/FILE). */
export const imagesFolderStash = (ref: QemuRef, folder: string, file: string) => posix.join(handedBase(ref), 'images', folder, file);

/** QMP commands on one connection, closed after (QEMU's monitor serves one client at a time). */
export async function withQmp<T>(machine: Machine, ref: QemuRef, timeoutMs: number, f: (c: QmpClient) => Promise<T>): Promise<T> {
  const c = await machine.qmp(ref, timeoutMs);
  try {
    return await f(c);
  } finally {
    c.close();
  }
}

/**
 * A disk's figures from its first 32 bytes and its stat: a qcow2 header holds the virtual
 * size (8 bytes big-endian at offset 24), a raw file is as big as it is; allocated is what
 * its blocks take.  No qemu-img: starting it inside a TCG parent would skew its CPU sample.
 */
export function diskFigures(head: Buffer, sizeBytes: number, blocks512: number): DiskFigures {
  const qcow2 = head.length >= 32 && head.readUInt32BE(0) === 0x514649fb;
  return { virtualBytes: qcow2 ? Number(head.readBigUInt64BE(24)) : sizeBytes, allocatedBytes: blocks512 * 512 };
}
