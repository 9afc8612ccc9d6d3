// This host's libvirtd as a Machine: libvirt starts and ends each top-level VM's QEMU as a
// domain (seen by virsh, virt-manager, virt-top), defined from the same plan as the kit's own
// QEMU command line (libvirt-xml.ts).  The QEMU still runs on this host, so /proc, loopback
// ports and files are read as HostMachine reads them; the domain carries the kit's own QMP
// socket and pidfile (qemu:commandline), so boot, stop, status, charts and snapshots are the
// same code as for any machine.  What differs is who starts and kills QEMU, and where its
// files sit: libvirt runs QEMU as its own user (libvirt-qemu on Debian), which may not read
// /root, so images and disks live in a `grainchart` dir pool under /var/lib/libvirt/images
// (0711, as libvirt made it).  libvirt's DAC driver gives each disk, kernel and initrd to that
// user while the domain runs; the VM's own folder belongs to that user so QEMU can make its
// socket and pidfile there.  /etc/libvirt/qemu.conf and the security driver are never touched.
import { chmodSync, chownSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TaskError, UsageError } from './errors.ts';
import { run } from './exec.ts';
import { probeHost } from './host-probe.ts';
import { HostMachine } from './machine-host.ts';
import type { MachineProbe, QemuRef } from './machine.ts';
import { vmPaths } from './paths.ts';
import type { ArgSection } from './qemu-args.ts';
import { domainName, domainXml } from './libvirt-xml.ts';
import type { Forward, LabResolved, VmPlace } from './resolve.ts';
import { isOurQemu, readPidfile } from './vm-state.ts';

/** The storage pool the kit's files go in, by that name in virsh and virt-manager. */
export const POOL = 'grainchart';

/** The pool's folder: in libvirt's own images folder, which its QEMU user may walk. */
export const poolDir = (env: NodeJS.ProcessEnv = process.env) => env.GRAINCHART_LIBVIRT_DIR || '/var/lib/libvirt/images/grainchart';

/** libvirt's per-domain folder belongs to the user it runs QEMU as (qemu.conf's `user`). */
const QEMU_HOME = '/var/lib/libvirt/qemu';

const START_HINT = 'start it: bash scripts/setup-host.sh --libvirt (installs libvirt-daemon-system, and starts virtlogd and libvirtd where there is no systemd)';

export class LibvirtMachine extends HostMachine {
  override readonly kind = 'libvirt' as const;
  override readonly where: string;
  override readonly at: string;
  override readonly installHint = 'bash scripts/setup-host.sh --libvirt';
  protected override readonly putFolderMode = 0o711;
  private reachable?: Promise<void>;
  private pooled?: Promise<void>;

  constructor(readonly uri: string) {
    super();
    this.where = `on libvirt ${uri}`;
    this.at = ` on libvirt ${uri}`;
  }

  override ref(lab: LabResolved, place: VmPlace): QemuRef {
    const domain = domainName(lab.name, place.vm.name);
    // QEMU's stderr is in libvirt's log of the domain (failed boots show its tail).
    const paths = { ...vmPaths(join(poolDir(), 'vms'), lab.name, place.vm.name), stderr: `/var/log/libvirt/qemu/${domain}.log` };
    // QEMU makes its socket as libvirt's user, in the VM's folder: the short fallback folder is this user's alone.
    if (dirname(paths.qmp) !== paths.dir) throw new UsageError(`${lab.name}/${place.vm.name}: its QMP socket path under ${poolDir()} is too long for a unix socket`, 'use shorter lab and VM names');
    return { name: place.vm.name, paths, libvirt: { lab: lab.name, domain } };
  }

  private virsh(args: string[], timeoutMs = 60_000) {
    return run(['virsh', '-c', this.uri, ...args], { timeoutMs, hint: `is libvirtd running? ${START_HINT}` });
  }

  /** libvirtd answers on this connection (asked once per process). */
  private connected(): Promise<void> {
    return (this.reachable ??= this.virsh(['uri'], 15_000).then(
      () => undefined,
      (err) => {
        this.reachable = undefined;
        throw new TaskError(`libvirt does not answer at ${this.uri}: ${((err as TaskError).stderr ?? (err as Error).message).trim().split('\n')[0]}`, { hint: START_HINT, cause: err });
      },
    ));
  }

  /** The `grainchart` dir pool, defined and started once: its volumes show in virsh vol-list and virt-manager. */
  private pool(): Promise<void> {
    return (this.pooled ??= (async () => {
      const dir = poolDir();
      mkdirSync(dir, { recursive: true, mode: 0o711 });
      const info = await this.virsh(['pool-info', POOL]).catch(() => undefined);
      if (!info) await this.virsh(['pool-define-as', POOL, 'dir', '--target', dir]);
      else {
        const target = /<path>([^<]+)<\/path>/.exec((await this.virsh(['pool-dumpxml', POOL])).stdout)?.[1];
        if (target !== dir) throw new TaskError(`libvirt's pool ${POOL} keeps its files in ${target}, not ${dir}`, { hint: `set GRAINCHART_LIBVIRT_DIR=${target}, or remove the pool: virsh pool-destroy ${POOL}; virsh pool-undefine ${POOL}` });
      }
      if (!/^State:\s+running/m.test(info?.stdout ?? '')) await this.virsh(['pool-start', POOL]);
      if (!/^Autostart:\s+yes/m.test(info?.stdout ?? '')) await this.virsh(['pool-autostart', POOL]);
    })().catch((err) => {
      this.pooled = undefined;
      throw err;
    }));
  }

  override async probe(forwards: Forward[] = []): Promise<MachineProbe> {
    await this.connected();
    return super.probe(forwards);
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
    if (!plan || !ref.libvirt) throw new Error('a libvirt machine starts a domain from its plan and ref');
    await this.pool();
    const emulator = (await probeHost()).qemu.path ?? '/usr/bin/qemu-system-x86_64';
    const extra = args.slice(plan.flatMap((s) => s.args).length);
    const uuid = (await this.virsh(['domuuid', ref.libvirt.domain]).catch(() => undefined))?.stdout.trim() || undefined;
    const xml = domainXml(plan, { lab: ref.libvirt.lab, emulator, runtime: { qmp: ref.paths.qmp, pidfile: ref.paths.pid }, extra, uuid });
    const file = join(ref.paths.dir, 'domain.xml');
    writeFileSync(file, xml, { mode: 0o600 });
    const command = [emulator, ...args];
    try {
      await this.virsh(['define', file]);
      await this.virsh(['pool-refresh', POOL]);
      await this.virsh(['start', ref.libvirt.domain], 60_000);
    } catch (err) {
      // virsh's own error first, then what QEMU printed (libvirt's log of the domain).
      const stderr = [((err as TaskError).stderr || (err as Error).message).trim(), await this.tail(ref.paths.stderr, 10)].filter(Boolean).join('\n');
      return { code: 1, pid: undefined, stderr, command };
    }
    return { code: 0, pid: readPidfile(ref.paths), stderr: '', command };
  }

    /** Undefines the domain (snapshots' metadata with it) and removes its folder in the pool: its disks and files. */
  async forget(ref: QemuRef): Promise<string | undefined> {
    if (!ref.libvirt) return undefined;
    await this.connected();
    const defined = await this.virsh(['domuuid', ref.libvirt.domain]).then(() => true, () => false);
    if (defined) await this.virsh(['undefine', '--snapshots-metadata', '--managed-save', ref.libvirt.domain]);
    rmSync(ref.paths.dir, { recursive: true, force: true });
    await this.virsh(['pool-refresh', POOL]).catch(() => undefined);
    return `${defined ? `undefined ${ref.libvirt.domain}, ` : ''}removed ${ref.paths.dir}`;
  }

  /** Ends the domain through libvirt (so it knows), and only while `pid` is still ref's QEMU. */
  override async signal(ref: QemuRef, pid: number, sig: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
    if (!ref.libvirt || !isOurQemu(pid, ref.paths)) return false;
    await this.virsh(['destroy', ...(sig === 'SIGTERM' ? ['--graceful'] : []), ref.libvirt.domain]).catch(() => undefined);
    return true;
  }
}

const machines = new Map<string, LibvirtMachine>();

/** One machine per connection URI. */
export function libvirtMachine(uri: string): LibvirtMachine {
  let m = machines.get(uri);
  if (!m) machines.set(uri, (m = new LibvirtMachine(uri)));
  return m;
}
