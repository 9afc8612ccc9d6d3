// This host's libvirtd as a Machine: libvirt starts and ends each top-level VM's QEMU as a
// domain (seen by virsh, virt-manager, virt-top), defined from the same plan as the kit's own
// QEMU command line (libvirt-xml.ts).  The QEMU still runs on this host, so /proc, loopback
// ports and files are read as HostMachine reads them; the domain carries the kit's own QMP
// socket and pidfile (qemu:commandline), so boot, stop, status, charts and snapshots are the
// same code as for any machine.  What differs is who starts and kills QEMU, and where its
// files sit: libvirt runs QEMU as its own user (libvirt-qemu on Debian), which may not read
// /root, so images and disks live in a `grainchart` dir pool under /var/lib/libvirt/images
// (0711, as libvirt made it): images and root overlays as its volumes, the VM's other files in
// its folder there (vms/LAB/VM).  libvirt's DAC driver gives each disk, kernel and initrd to that
// user while the domain runs; the VM's own folder belongs to that user so QEMU can make its
// socket and pidfile there.  /etc/libvirt/qemu.conf and the security driver are never touched.
import { chmodSync, chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TaskError, UsageError } from '../../util/errors.ts';
import { probeHost } from '../../qemu/host-probe.ts';
import { HostMachine } from '../host.ts';
import type { MachineProbe, Overlay, QemuRef } from '../machine.ts';
import { vmPaths } from '../../util/paths.ts';
import type { ArgSection } from '../../qemu/args.ts';
import { domainLog, LibvirtConnection, poolDir, QEMU_HOME, rootVolume, START_HINT } from './connection.ts';
import { domainName } from './xml.ts';
import type { Forward, LabResolved, VmPlace } from '../../spec/resolve.ts';
import { isOurQemu, readPidfile } from '../../qemu/process.ts';

export class LibvirtMachine extends HostMachine {
  override readonly kind = 'libvirt' as const;
  override readonly where: string;
  override readonly at: string;
  override readonly installHint = 'bash scripts/setup-host.sh --libvirt';
  protected override readonly putFolderMode = 0o711;
  readonly conn: LibvirtConnection;

  constructor(readonly uri: string) {
    super();
    this.conn = new LibvirtConnection(uri);
    this.where = `on libvirt ${uri}`;
    this.at = ` on libvirt ${uri}`;
  }

  override ref(lab: LabResolved, place: VmPlace): QemuRef {
    const domain = domainName(lab.name, place.vm.name);
    // QEMU's stderr is in libvirt's log of the domain (failed boots show its tail).
    const paths = { ...vmPaths(join(poolDir(), 'vms'), lab.name, place.vm.name), stderr: domainLog(domain), rootDisk: join(poolDir(), rootVolume(domain)) };
    // QEMU makes its socket as libvirt's user, in the VM's folder: the short fallback folder is this user's alone.
    if (dirname(paths.qmp) !== paths.dir)
      throw new UsageError(
        `${lab.name}/${place.vm.name}: its QMP socket path under ${poolDir()} is too long for a unix socket`,
        'use shorter lab and VM names',
      );
    return { name: place.vm.name, paths, libvirt: { lab: lab.name, domain } };
  }

  override async probe(forwards: Forward[] = []): Promise<MachineProbe> {
    await this.conn.connected();
    return this.conn.judged(await super.probe(forwards));
  }

  /** Overlays in the pool are made as its volumes; the rest as on this host. */
  override async prepare(ref: QemuRef, overlays: Overlay[] = []): Promise<void> {
    await super.prepare(ref, await this.conn.makeOverlays(ref, overlays, async (f) => existsSync(f)));
  }

  /** A file for the pool goes in as its volume (vol-upload); the rest as on this host. */
  override async put(local: string, remote: string, opts: { keep?: boolean } = {}): Promise<void> {
    if (!(await this.conn.putVolume(local, remote, opts.keep, async () => statSync(remote, { throwIfNoEntry: false })?.size)))
      await super.put(local, remote, opts);
  }

  /** The VM's folder belongs to libvirt's QEMU user (it makes the socket and pidfile there); every folder above may be walked. */
  protected override prepareFolder(ref: QemuRef): void {
    mkdirSync(ref.paths.dir, { recursive: true, mode: 0o711 });
    const owner = statSync(QEMU_HOME, { throwIfNoEntry: false });
    if (!owner) throw new TaskError(`${QEMU_HOME} is missing: is libvirt-daemon-system installed?`, { hint: START_HINT });
    chownSync(ref.paths.dir, owner.uid, owner.gid);
    chmodSync(ref.paths.dir, 0o700);
  }

  override async start(ref: QemuRef, args: string[], plan?: ArgSection[]) {
    if (!plan) throw new Error('a libvirt machine starts a domain from its plan');
    mkdirSync(poolDir(), { recursive: true, mode: 0o711 });
    const emulator = (await probeHost()).qemu.path ?? '/usr/bin/qemu-system-x86_64';
    const r = await this.conn.start(ref, args, plan, { emulator, logTail: () => this.tail(ref.paths.stderr, 10) });
    return { ...r, pid: r.code === 0 ? readPidfile(ref.paths) : undefined };
  }

  // libvirt's own word on a domain, its figures, its list of snapshots and its managed save.
  get managedSave() {
    return this.conn.managed;
  }
  domainState = (ref: QemuRef) => this.conn.domainState(ref);
  domainStats = (ref: QemuRef) => this.conn.domainStats(ref);
  noteSnapshot = (ref: QemuRef, name: string, change: { saved: boolean; live: boolean }) => this.conn.noteSnapshot(ref, name, change);

  /** Also waits for libvirt to have the domain off, once its QEMU is gone. */
  override async cleanRuntime(ref: QemuRef): Promise<void> {
    await super.cleanRuntime(ref);
    if (ref.libvirt) await this.conn.settled(ref.libvirt.domain);
  }

  /** Ends the domain through libvirt (so it knows), and only while `pid` is still ref's QEMU. */
  override async signal(ref: QemuRef, pid: number, sig: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
    if (!ref.libvirt || !isOurQemu(pid, ref.paths)) return false;
    await this.conn.destroy(ref.libvirt.domain, sig === 'SIGTERM');
    return true;
  }

  /** Undefines the domain (snapshots' metadata with it) and removes its folder in the pool: its disks and files. */
  forget(ref: QemuRef): Promise<string | undefined> {
    return this.conn.forget(ref, this);
  }
}

const machines = new Map<string, LibvirtMachine>();

/** One machine per connection URI. */
export function libvirtMachine(uri: string): LibvirtMachine {
  let m = machines.get(uri);
  if (!m) machines.set(uri, (m = new LibvirtMachine(uri)));
  return m;
}
