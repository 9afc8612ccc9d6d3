// One libvirt connection as virsh drives it: whether it answers, the kit's `grainchart` dir
// pool (its volumes: volumes.ts), a domain's define → start, destroy and undefine, its state,
// figures, managed save and libvirt's list of its snapshots.  The same for this host's
// libvirtd and a server's over qemu+ssh; the launcher around it (machine.ts) says where the
// other files are and how QEMU is read.
import { retry } from '../../util/retry.ts';
import { posix } from 'node:path';
import { TaskError } from '../../util/errors.ts';
import { run } from '../../util/exec.ts';
import { parseDomstats, type DomainReading } from './domstats.ts';
import type { KvmVerdict } from '../../qemu/host-probe.ts';
import { domainXml, volumeAt, xmlText } from './xml.ts';
import { kitPool, POOL, poolDir, START_HINT, withXmlFile } from './pool.ts';
import { PoolVolumes } from './volumes.ts';
import type { Machine, MachineProbe, ManagedSave, QemuRef } from '../machine.ts';
import type { ArgSection } from '../../qemu/plan.ts';

export class LibvirtConnection {
  private reachable?: Promise<void>;
  private pooled?: Promise<void>;
  private kvmOffered?: Promise<boolean>;

  /** `uri` as the spec says it (for messages); `connect` as virsh is given it (with the kit's SSH options). */
  /** The pool's volumes, made and dropped over this connection. */
  readonly volumes = new PoolVolumes(
    (args, timeoutMs) => this.virsh(args, timeoutMs),
    () => this.pool(),
  );

  constructor(
    readonly uri: string,
    private readonly connect = uri,
    private readonly hint = START_HINT,
  ) {}

  virsh(args: string[], timeoutMs = 60_000) {
    return run(['virsh', '-c', this.connect, ...args], { timeoutMs, hint: `is libvirtd running at ${this.uri}? ${this.hint}` });
  }

  /** libvirtd answers on this connection (asked once per process). */
  connected(): Promise<void> {
    return (this.reachable ??= this.virsh(['uri'], 20_000).then(
      () => undefined,
      (err) => {
        this.reachable = undefined;
        throw new TaskError(`libvirt does not answer at ${this.uri}: ${((err as TaskError).stderr || (err as Error).message).trim().split('\n')[0]}`, {
          hint: this.hint,
          cause: err,
        });
      },
    ));
  }

  /** The `grainchart` dir pool with its files in poolDir() there, defined, started and autostarted once. */
  pool(): Promise<void> {
    return (this.pooled ??= (async () => {
      const dir = poolDir();
      const info = await this.virsh(['pool-info', POOL]).catch(() => undefined);
      if (!info) await this.virsh(['pool-define-as', POOL, 'dir', '--target', dir]);
      else {
        const target = /<path>([^<]+)<\/path>/.exec((await this.virsh(['pool-dumpxml', POOL])).stdout)?.[1];
        if (target !== dir)
          throw new TaskError(`libvirt's pool ${POOL} at ${this.uri} keeps its files in ${target}, not ${dir}`, {
            hint: `set GRAINCHART_LIBVIRT_DIR=${target}, or remove the pool: virsh pool-destroy ${POOL}; virsh pool-undefine ${POOL}`,
          });
      }
      // pool-build makes its folder where it is missing (0711, as libvirt makes it), and leaves one that is there.
      if (!/^State:\s+running/m.test(info?.stdout ?? '')) {
        await this.virsh(['pool-build', POOL]);
        await this.virsh(['pool-start', POOL]);
      }
      if (!/^Autostart:\s+yes/m.test(info?.stdout ?? '')) await this.virsh(['pool-autostart', POOL]);
    })().catch((err) => {
      this.pooled = undefined;
      throw err;
    }));
  }

  /**
   * Defines `ref`'s domain from the plan (again, with its UUID, when it exists: libvirt
   * redefines a name only so) and starts it.  A refusal is returned as QEMU's would be: virsh's
   * error, then the tail of libvirt's log of the domain (`logTail`).
   */
  async start(ref: QemuRef, args: string[], plan: ArgSection[], o: { emulator: string; logTail: () => Promise<string> }) {
    if (!ref.libvirt) throw new Error('a libvirt machine starts a domain from its ref');
    await this.pool();
    const domain = ref.libvirt.domain;
    const uuid = (await this.virsh(['domuuid', domain]).catch(() => undefined))?.stdout.trim() || undefined;
    const extra = args.slice(plan.flatMap((s) => s.args).length);
    const xml = domainXml(plan, {
      lab: ref.libvirt.lab,
      emulator: o.emulator,
      runtime: { qmp: ref.paths.qmp, pidfile: ref.paths.pid },
      extra,
      uuid,
      pool: kitPool(),
    });
    const command = [o.emulator, ...args];
    try {
      await withXmlFile(xml, (file) => this.virsh(['define', file]));
      // The domain names its disks as volumes: a volume's file kept from a boot before that
      // libvirt has lost from its list (put back behind its back) is listed again, and the start
      // asked once more.  Only then: a pool-refresh is one more virsh call on every boot.
      await this.virsh(['start', domain]).catch(async (err: TaskError) => {
        if (!/Storage volume not found|no storage vol/i.test(err.stderr ?? '')) throw err;
        await this.virsh(['pool-refresh', POOL]);
        await this.virsh(['start', domain]);
      });
    } catch (err) {
      const stderr = [((err as TaskError).stderr || (err as Error).message).trim(), await o.logTail().catch(() => '')].filter(Boolean).join('\n');
      return { code: 1, stderr, command };
    }
    return { code: 0, stderr: '', command };
  }

  /**
   * Waits (15 s at most) until libvirt itself has the domain off: its QEMU can be gone a
   * moment before libvirt has handled that ("in shutdown"), and a start then finds the domain
   * still active (seen in CI right after a down).
   */
  async settled(domain: string, timeoutMs = 15_000): Promise<void> {
    await retry(
      async () => {
        const state = (await this.virsh(['domstate', domain]).catch(() => undefined))?.stdout.trim();
        if (!state || state === 'shut off' || state === 'crashed') return true;
        throw new Error(`libvirt says "${state}"`);
      },
      {
        what: `libvirt to have ${domain} off once its QEMU ended`,
        timeoutMs,
        intervalMs: 100,
        hint: `see virsh domstate --reason ${domain}; virsh destroy ${domain} ends it`,
      },
    );
  }

  /** Machine.domainState: `virsh domstate --reason`, "running (booted)", "shut off (destroyed)"; undefined for a domain libvirt does not know. */
  async domainState(ref: QemuRef): Promise<string | undefined> {
    if (!ref.libvirt) return undefined;
    return (await this.virsh(['domstate', '--reason', ref.libvirt.domain], 10_000).catch(() => undefined))?.stdout.trim() || undefined;
  }

  /** Machine.domainStats: one reading of libvirt's figures of the domain (`virsh domstats --raw`), and when it was taken. */
  async domainStats(ref: QemuRef): Promise<{ at: number; reading: DomainReading }> {
    const t0 = performance.now();
    const out = (await this.virsh(['domstats', '--raw', '--cpu-total', '--balloon', '--vcpu', '--block', '--interface', domainOf(ref)], 10_000)).stdout;
    // The middle of the call: virsh's own start-up is on both sides of libvirt's read.
    return { at: (t0 + performance.now()) / 2, reading: parseDomstats(out) };
  }

  /** The machine's probe, with KVM usable only when libvirt also offers a kvm domain there (asked once). */
  async judged(p: MachineProbe): Promise<MachineProbe> {
    if (p.kvm.state !== 'usable') return p;
    this.kvmOffered ??= this.virsh(['domcapabilities', '--virttype', 'kvm'], 20_000).then(
      (r) => /<domain>kvm<\/domain>/.test(r.stdout),
      () => false,
    );
    return { ...p, kvm: kvmVerdict(p.kvm, await this.kvmOffered, this.uri) };
  }

  /** Machine.managedSave for this connection's domains. */
  readonly managed: ManagedSave = {
    // --running: a restore lets the guest go on, as the kit's own resume does.  Its RAM is written, so it takes a while.
    save: async (ref) => void (await this.virsh(['managedsave', '--running', domainOf(ref)], 600_000)),
    has: async (ref) => /^Managed save:\s+yes/m.test((await this.virsh(['dominfo', domainOf(ref)], 10_000)).stdout),
    drop: async (ref) => void (await this.virsh(['managedsave-remove', domainOf(ref)], 30_000)),
  };

  /** Ends the domain: --graceful lets QEMU flush its disks first. */
  async destroy(domain: string, graceful: boolean): Promise<void> {
    await this.virsh(['destroy', ...(graceful ? ['--graceful'] : []), domain]).catch(() => undefined);
  }

  /**
   * Records a snapshot the kit made in the domain's qcow2 (QMP snapshot-save, or qemu-img
   * offline) in libvirt's own list, as libvirt's --redefine is for: `virsh snapshot-list`,
   * virt-manager and `virsh snapshot-revert` then know it.  The domain as it is now goes with
   * it (what a revert would start).
   */
  async recordSnapshot(domain: string, name: string, live: boolean): Promise<void> {
    const dom = (await this.virsh(['dumpxml', ...(live ? [] : ['--inactive']), domain])).stdout.trim();
    const xml = [
      '<domainsnapshot>',
      `  <name>${xmlText(name)}</name>`,
      '  <description>made by grainchart: an internal snapshot in the qcow2</description>',
      `  <state>${live ? 'running' : 'shutoff'}</state>`,
      `  <creationTime>${Math.floor(Date.now() / 1000)}</creationTime>`,
      `  <memory snapshot='${live ? 'internal' : 'no'}'/>`,
      dom,
      '</domainsnapshot>',
    ].join('\n');
    await withXmlFile(xml, (file) => this.virsh(['snapshot-create', domain, file, '--redefine']));
  }

  /** Machine.noteSnapshot for a domain of this connection. */
  async noteSnapshot(ref: QemuRef, name: string, change: { saved: boolean; live: boolean }): Promise<void> {
    if (!ref.libvirt) return;
    if (change.saved) await this.recordSnapshot(ref.libvirt.domain, name, change.live);
    else await this.dropSnapshot(ref.libvirt.domain, name);
  }

  /** Drops every snapshot's entry from libvirt's list of a domain (none for a domain not defined yet). */
  async dropSnapshots(domain: string): Promise<void> {
    const names = (await this.virsh(['snapshot-list', '--name', domain]).catch(() => undefined))?.stdout.split('\n').filter(Boolean) ?? [];
    for (const name of names) await this.dropSnapshot(domain, name);
  }

  /** Drops a snapshot's entry from libvirt's list (the kit removed the snapshot itself); one libvirt never had is no error. */
  async dropSnapshot(domain: string, name: string): Promise<void> {
    await this.virsh(['snapshot-delete', domain, name, '--metadata']).catch((err: TaskError) => {
      if (!/not found|no domain snapshot/i.test(err.stderr ?? '')) throw err;
    });
  }

  /**
   * Machine.forget for a domain of this connection: undefines it (its snapshots' metadata
   * and managed save with it), then removes its folder in the pool, and the lab's folder
   * above once that is empty, on the machine that keeps them (`there`), and its root volume;
   * says what went, `on` naming a server's host.
   */
  async forget(ref: QemuRef, there: Pick<Machine, 'run'>, on = ''): Promise<string | undefined> {
    if (!ref.libvirt) return undefined;
    const domain = ref.libvirt.domain;
    await this.connected();
    const defined = await this.virsh(['domuuid', domain]).then(
      () => true,
      () => false,
    );
    if (defined) await this.virsh(['undefine', '--snapshots-metadata', '--managed-save', domain]);
    await there.run(['rm', '-rf', ref.paths.dir]);
    await there.run(['rmdir', '--ignore-fail-on-non-empty', posix.dirname(ref.paths.dir)]).catch(() => undefined);
    await this.virsh(['pool-refresh', POOL]).catch(() => undefined);
    // The root overlay is a volume of the pool; the images under it stay, shared by every lab.
    const volume = ref.paths.rootDisk && volumeAt(ref.paths.rootDisk, poolDir());
    if (volume) await this.volumes.drop(volume);
    return `${defined ? `undefined ${domain}, ` : ''}removed ${ref.paths.dir}${volume ? ` and volume ${volume}` : ''}${on}`;
  }
}

function domainOf(ref: QemuRef): string {
  if (!ref.libvirt) throw new Error('a libvirt machine knows a domain from its ref');
  return ref.libvirt.domain;
}

/**
 * The domain type follows both: the kit's probe of the machine (it knows KVM that exists but
 * never boots a guest, kvm_pvm) and libvirt's domcapabilities (it may offer no kvm domain,
 * as when its QEMU user cannot open /dev/kvm).
 */
export function kvmVerdict(kit: KvmVerdict, libvirtOffersKvm: boolean, uri: string): KvmVerdict {
  if (kit.state !== 'usable' || libvirtOffersKvm) return kit;
  return {
    state: 'unusable',
    reason: `libvirt at ${uri} offers no kvm domain (virsh domcapabilities --virttype kvm)`,
    hint: `its domains run under TCG; check that libvirt's QEMU user may open /dev/kvm (bash scripts/setup-host.sh --libvirt gives it to group kvm)`,
  };
}
