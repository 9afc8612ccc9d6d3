// tasks/machine/libvirt/: libvirtd as who starts QEMU — the launcher, its connection (virsh),
// its pool and volumes, the domain XML, its figures — over this host or a server.
//
// libvirt as the launcher of a machine's QEMUs: libvirtd starts and ends each top-level VM's
// QEMU as a domain (seen by virsh, virt-manager, virt-top), defined from the same plan as the
// kit's own QEMU command line (xml.ts).  One launcher over either access — this host's
// (HostMachine), or a server's host over one SSH session (SshMachine, with virsh on
// qemu+ssh://) — as libvirt keeps its transport apart from its hypervisor driver.  The
// access reads QEMU's /proc, files and QMP socket, dials its forwards and runs commands; the
// domain carries the kit's own QMP socket and pidfile (qemu:commandline), so boot, stop,
// status, charts and snapshots are the same code as for any machine.  What libvirt changes is
// who starts and kills QEMU, and where its files sit: libvirt runs QEMU as its own user
// (libvirt-qemu on Debian), which may not read /root, so images and disks live in a
// `grainchart` dir pool (images and root overlays as its volumes, the VM's other files in its
// folder there, vms/LAB/VM, which belongs to that user so QEMU can make its socket and pidfile).
// libvirt's DAC driver gives each disk, kernel and initrd to that user while the domain runs;
// /etc/libvirt/qemu.conf and the security driver are never touched.
import { posix } from 'node:path';
import { TaskError, UsageError } from '../../util/errors.ts';
import { MAX_SOCKET_PATH } from '../../util/paths.ts';
import type { ArgSection } from '../../qemu/plan.ts';
import type { Forward, LabResolved, VmPlace } from '../../spec/tree.ts';
import { handedBase, type Machine, type MachineProbe, type Overlay, type QemuRef, type SampleOptions } from '../machine.ts';
import { filesIn, prepareScript } from '../over-ssh.ts';
import { hostMachine } from '../host.ts';
import { domainLog, imageVolume, poolDir, QEMU_HOME, rootVolume, START_HINT } from './pool.ts';
import { LibvirtConnection } from './connection.ts';
import { domainName } from './xml.ts';
import { checkEmulatorReachable, localEmulator } from './emulator.ts';

/** A VM's QEMU on libvirt: its folder in the pool, QEMU's stderr in libvirt's log of the domain. */
export function libvirtRef(lab: { name: string }, place: VmPlace): QemuRef {
  const domain = domainName(lab.name, place.vm.name);
  const paths = {
    ...filesIn(posix.join(poolDir(), 'vms', lab.name, place.vm.name)),
    stderr: domainLog(domain),
    rootDisk: posix.join(poolDir(), rootVolume(domain)),
  };
  // QEMU makes its socket as libvirt's user, in the VM's folder: no short fallback folder of this user's.
  if (Buffer.byteLength(paths.qmp) > MAX_SOCKET_PATH)
    throw new UsageError(`${lab.name}/${place.vm.name}: its QMP socket path under ${poolDir()} is too long for a unix socket`, 'use shorter lab and VM names');
  return { name: place.vm.name, paths, libvirt: { lab: lab.name, domain } };
}

/** libvirt keeps a file of this host's image folders as a volume of its pool (the folder its VMs' folder is in). */
export const libvirtStash = (ref: QemuRef, folder: string, file: string) => posix.join(handedBase(ref), imageVolume(folder, file));

export class LibvirtMachine implements Machine {
  readonly slow = false;
  readonly inside = undefined;
  readonly readsHostFiles = false;
  readonly stashPath = libvirtStash;
  readonly where: string;
  readonly at: string;

  /** `access` is where libvirtd's QEMUs run, reached locally or over SSH; `on` ends messages about that host ('' for this one). */
  constructor(
    readonly access: Machine,
    readonly conn: LibvirtConnection,
    readonly installHint: string,
    private readonly on = '',
  ) {
    this.where = `on libvirt ${conn.uri}`;
    this.at = ` ${this.where}`;
  }

  /** Asked once per process: libvirt's QEMU user reaches the lab's QEMU (emulator.ts). */
  private emulatorChecked?: Promise<void>;

  get local(): boolean {
    return this.access.local;
  }
  get home(): string {
    return this.access.home;
  }

  ref(lab: LabResolved, place: VmPlace): QemuRef {
    return libvirtRef(lab, place);
  }

  async probe(forwards: Forward[] = []): Promise<MachineProbe> {
    await this.conn.connected();
    if (this.local) await (this.emulatorChecked ??= checkEmulatorReachable(this.access));
    return this.conn.judged(await this.access.probe(forwards));
  }

  /** A QEMU unpacked into a folder brings its firmware folders: the plan names them (-L) for a libvirt here. */
  qemuDataDirs(): string[] {
    return this.local ? (this.access.qemuDataDirs?.() ?? []) : [];
  }

  sample = (ref: QemuRef, opts?: SampleOptions) => this.access.sample(ref, opts);
  qmp = (ref: QemuRef, timeoutMs?: number) => this.access.qmp(ref, timeoutMs);
  dial = (port: number, host?: string) => this.access.dial(port, host);
  tail = (file: string, lines: number) => this.access.tail(file, lines);
  fileSize = (file: string) => this.access.fileSize(file);
  run = (argv: string[], timeoutMs?: number) => this.access.run(argv, timeoutMs);

  /**
   * Overlays in the pool are made as its volumes, the rest in the VM's folder; the folder is
   * then given to libvirt's QEMU user (it makes the socket and pidfile there).  umask 066: the
   * folders made on the way may be walked, not listed, by that user.
   */
  async prepare(ref: QemuRef, overlays: Overlay[] = []): Promise<void> {
    const present = async (f: string) => (await this.access.fileSize(f)) !== undefined;
    const replaced = async () => {
      if (ref.libvirt) await this.conn.dropSnapshots(ref.libvirt.domain);
    };
    const rest = await this.conn.volumes.makeOverlays(overlays, present, replaced);
    const d = ref.paths.dir;
    // The folder and files first (a failure there is said as it is), then the folder given away.
    const give = `if [ ! -d ${QEMU_HOME} ]; then echo "${QEMU_HOME} is missing: is libvirt-daemon-system installed?" >&2; exit 3; fi; chown "$(stat -c %u:%g ${QEMU_HOME})" "$1" && chmod 700 "$1"`;
    await this.access.run(['sh', '-c', `{ umask 066 && ${prepareScript(ref, rest)}; } || exit; ${give}`, 'sh', d]).catch((err) => {
      throw new TaskError(`could not prepare ${ref.name}'s folder and disks ${this.where}`, {
        cause: err,
        stderr: (err as TaskError).stderr,
        hint: (err as TaskError).commandExitCode === 3 ? START_HINT : `is the disk full ${this.where}, or qemu-img missing there?`,
      });
    });
  }

  /** A file for the pool goes in as its volume (vol-upload over libvirt's connection); the rest into a folder libvirt's QEMU user may walk. */
  async put(local: string, remote: string, opts: { keep?: boolean } = {}): Promise<void> {
    if (await this.conn.volumes.put(local, remote, opts.keep, () => this.access.fileSize(remote))) return;
    await this.access.run(['sh', '-c', 'umask 066 && mkdir -p "$1"', 'sh', posix.dirname(remote)]);
    await this.access.put(local, remote, opts);
  }

  async start(ref: QemuRef, args: string[], plan?: ArgSection[]) {
    if (!plan) throw new Error('a libvirt machine starts a domain from its plan');
    // One command there: the pool's folder (0711, as libvirt makes it), and which QEMU the domain runs.
    const found = await this.access.run(['sh', '-c', 'umask 066 && mkdir -p "$1" && { command -v qemu-system-x86_64 || true; }', 'sh', poolDir()]);
    const emulator = this.local ? localEmulator() : found.trim() || '/usr/bin/qemu-system-x86_64';
    const r = await this.conn.start(ref, args, plan, { emulator, logTail: () => this.tail(ref.paths.stderr, 10) });
    return { ...r, pid: r.code === 0 ? (await this.access.sample(ref)).pid : undefined };
  }

  /** Also waits for libvirt to have the domain off, once its QEMU is gone. */
  async cleanRuntime(ref: QemuRef): Promise<void> {
    await this.access.cleanRuntime(ref);
    if (ref.libvirt) await this.conn.settled(ref.libvirt.domain);
  }

  /** Ends the domain through libvirt (so it knows), and only while `pid` is still ref's QEMU. */
  async signal(ref: QemuRef, pid: number, sig: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
    if (!ref.libvirt || !(await this.access.sample(ref, { pid })).alive) return false;
    await this.conn.destroy(ref.libvirt.domain, sig === 'SIGTERM');
    return true;
  }

  // libvirt's own word on a domain, its figures, its list of snapshots and its managed save.
  get managedSave() {
    return this.conn.managed;
  }
  domainState = (ref: QemuRef) => this.conn.domainState(ref);
  domainStats = (ref: QemuRef) => this.conn.domainStats(ref);
  noteSnapshot = (ref: QemuRef, name: string, change: { saved: boolean; live: boolean }) => this.conn.noteSnapshot(ref, name, change);

  /** Undefines the domain (snapshots' metadata with it) and removes its folder in the pool: its disks and files. */
  forget(ref: QemuRef): Promise<string | undefined> {
    return this.conn.forget(ref, this.access, this.on);
  }
}

const local = new Map<string, LibvirtMachine>();

/** This host's libvirtd: one machine per connection URI. */
export function localLibvirt(uri: string): LibvirtMachine {
  let m = local.get(uri);
  if (!m) local.set(uri, (m = new LibvirtMachine(hostMachine, new LibvirtConnection(uri), 'bash scripts/setup-host.sh --libvirt')));
  return m;
}
