// Booting one VM on its machine — this host or inside its parent, the same path for both:
// preflight → prepare → launch → staged readiness.  Readiness is data (lima's requirements,
// the NixOS driver's retry): ordered stages, each with a time limit and a hint, run as
// progress.  A QEMU that dies, or a QMP status that means the guest is dead, fails at once
// instead of waiting out the timeout.  A failed boot stops the QEMU it started, keeps its
// logs, and reports the stage, the time, the serial console's tail and QEMU's stderr.
// What to boot (images, disks, seeds) comes from `inputs`, above the kit: the kit never
// builds images itself.
import { TaskError, UsageError } from '../util/errors.ts';
import type { KvmVerdict } from '../qemu/host-probe.ts';
import { kitPaths } from '../util/paths.ts';
import { chooseAccel, qemuPlan, type ArgInputs, type ArgSection } from '../qemu/args.ts';
import { forwardsOf, type LabResolved, type VmPlace, type VmResolved } from '../spec/resolve.ts';
import { FatalError } from '../util/retry.ts';
import type { QmpStatus } from '../qemu/qmp.ts';
import { hostKeyAlias, labKeys, pinHostKey, pinnedHostKey } from '../ssh/keys.ts';
import { Guest, HostKeyMismatch } from '../ssh/guest.ts';
import { DEAD_QMP } from './status.ts';
import { updateState, writeState, type BootMetrics, type VmState } from '../machine/record.ts';
import type { Forward } from '../spec/resolve.ts';
import { progressList } from '../cli/progress.ts';
import { stageTasks, type Stage } from './readiness.ts';
import { explainRefusal } from '../qemu/refusal.ts';
import { consolePanic } from '../machine/kernel-panic.ts';
import { MachineLost } from '../machine/machine-for.ts';
import { bannerPoller } from '../ssh/banner.ts';
import { vmStatus } from './status.ts';
import { stopQemu } from './stop.ts';
import { withQmp, type Machine, type MachineProbe, type Overlay, type QemuRef } from '../machine/machine.ts';

export interface BootOptions {
  quiet?: boolean;
  /** Seconds for the whole boot; default by accelerator and machine. */
  timeoutS?: number;
  /** Leave a QEMU whose boot failed running, for debugging. */
  keepOnFailure?: boolean;
  /** Make a new root disk from the current image (the old one's changes are lost). */
  fresh?: boolean;
  /** The caller has just checked that the VM is not running. */
  checked?: boolean;
  warn?: (message: string) => void;
  /** Aborted (Ctrl-C): the boot stops at its next check and the QEMU it started is stopped. */
  signal?: AbortSignal;
  /** Start from this internal snapshot's VM state (-loadvm): a resume, or a lab's golden state. */
  loadvm?: string;
  /** The command line the saved state was made with: a different one now (spec or image changed) is refused. */
  savedArgv?: string[];
  /**
   * Takes the SSH session that ran `uname -a`, once the boot succeeded, instead of closing it
   * (the taker closes it): a caller about to talk to the guest saves a handshake, ~0.4 s
   * under TCG, ~0.7 s with a Debian.
   */
  keepSession?: (guest: Guest) => void;
}

/** A command line without its -loadvm, to compare the devices of two runs. */
export const withoutLoadvm = (argv: string[]) => argv.filter((a, i) => a !== '-loadvm' && argv[i - 1] !== '-loadvm');

export interface BootResult {
  lab: string;
  vm: string;
  pid: number;
  accel: 'kvm' | 'tcg';
  forwards: Forward[];
  metrics: BootMetrics;
  uname: string;
}

/** What a VM boots, made ready on its machine by the layer above the kit. */
export interface BootInputs {
  inputs: Omit<ArgInputs, 'home' | 'vm' | 'qmpTcpPort' | 'authorizedKey'>;
  /** The guest's SSH host key to pin; else the one already pinned is used. */
  hostKey?: string;
  image?: VmState['image'];
  /** Root overlays to make on the machine (kept when they exist, unless marked to replace). */
  overlays?: Overlay[];
  /** The VM's boot and disk as its machine sees them (files delivered there), when not as the spec says. */
  as?: Partial<Pick<VmResolved, 'boot' | 'disk'>>;
  /** A full distribution with cloud-init: minutes under TCG, and fewer, slower SSH attempts. */
  slow?: boolean;
}

/**
 * `dryRun` (explain, doc): the same answer without making, copying or asking anything there —
 * the argv `explain` prints is the one a boot would run.
 */
export type PrepareInputs = (c: {
  lab: LabResolved;
  place: VmPlace;
  machine: Machine;
  ref: QemuRef;
  fresh: boolean;
  dryRun?: boolean;
  warn?: (m: string) => void;
}) => Promise<BootInputs>;

/** QEMU exited while starting: its own stderr says why, so no serial log is added. */
class QemuRefused extends TaskError {}

/** The guest's kernel panicked during the boot: its QEMU runs on, but the guest never will. */
export class GuestPanicked extends FatalError {}

/** A boot that failed because the parent it ran in was lost: `up` may boot that parent again. */
export class ParentLost extends TaskError {
  constructor(
    message: string,
    readonly parent: string,
    hint: string,
    cause: unknown,
  ) {
    super(message, { hint, cause });
  }
}

/** The whole boot's time limit: a working TCG boot of the tiny guest takes ~5 s here; KVM that cannot work gets a short leash. */
export function bootBudgetMs(accel: 'kvm' | 'tcg', kvm: KvmVerdict, o: { timeoutS?: number; slow?: boolean; slowMachine?: boolean }): number {
  if (o.timeoutS !== undefined) return o.timeoutS * 1000;
  if (accel === 'kvm' && kvm.state !== 'usable') return 20_000;
  const base = o.slowMachine ? 300_000 : accel === 'tcg' ? 180_000 : 90_000;
  return o.slow ? base * 4 : base;
}

/**
 * Boots `place` on `machine` and waits until SSH runs `uname -a` (and cloud-init is done).
 * A cold boot whose kernel panics is tried once more, saying so: under TCG's emulated SVM
 * (this host's only way to nest, QEMU 7.2) a nested Debian kernel can take a page fault in
 * its interrupt entry and panic at a random point of its boot (seen here in the debian-nest
 * lab's Debian child: "Fatal exception in interrupt"), and a second boot of the same disk
 * then comes up.  A panic on a resume (-loadvm) is not retried: booting again would drop
 * the saved state.
 */
export async function bootOn(machine: Machine, lab: LabResolved, place: VmPlace, prepareInputs: PrepareInputs, opts: BootOptions = {}): Promise<BootResult> {
  try {
    return await bootOnce(machine, lab, place, prepareInputs, opts);
  } catch (err) {
    const panic = (err as { cause?: unknown }).cause;
    if (!(panic instanceof GuestPanicked) || opts.loadvm || opts.keepOnFailure || opts.signal?.aborted) throw err;
    opts.warn?.(`${place.vm.name}: ${panic.message}${machine.at}; its QEMU was stopped, booting it once more`);
    return bootOnce(machine, lab, place, prepareInputs, { ...opts, checked: true });
  }
}

async function bootOnce(machine: Machine, lab: LabResolved, place: VmPlace, prepareInputs: PrepareInputs, opts: BootOptions): Promise<BootResult> {
  const vm = place.vm;
  const at = machine.at;
  const record = kitPaths(lab.name, vm.name).vm;
  const ref = machine.ref(lab, place);
  const forwards = forwardsOf(vm);
  const sshForward = forwards.find((f) => f.guest === 22 && f.proto === 'tcp');
  if (place.parent && !sshForward) throw new UsageError(`${vm.name}: a nested VM needs network.sshPort (inside ${place.parent.name}) to be reached`);

  const c = { started: 0, pid: 0, metrics: {} as BootMetrics, uname: '', args: [] as string[] } as {
    started: number;
    pid: number;
    metrics: BootMetrics;
    uname: string;
    args: string[];
    plan: ArgSection[];
    probe: MachineProbe;
    accel: 'kvm' | 'tcg';
    budgetMs: number;
    hostKey?: string;
    kvmHint?: string;
    boot: BootInputs;
    /** The session that ran `uname -a`: cloud-init's check uses it too, then it is handed on (keepSession) or closed. */
    guest?: Guest;
  };
  const dialSsh = () => machine.dial(sshForward!.host, sshForward!.bind);
  let banners: ReturnType<typeof bannerPoller> | undefined;
  const sshTarget = () => ({
    name: vm.name,
    host: sshForward!.bind,
    port: sshForward!.host,
    user: vm.ssh.user,
    privateKeyPath: labKeys(lab.name).privateKeyPath,
    hostKey: c.hostKey!,
  });
  const connect = async (sock?: import('node:stream').Duplex, timeoutMs = 5000) =>
    Guest.connect(sshTarget(), timeoutMs, sock ?? (await dialSsh())).catch((e) => {
      // A wrong host key will not become right by waiting.
      throw e instanceof HostKeyMismatch ? new FatalError(e.message, e.hint) : e;
    });

  const stages: Stage[] = [
    {
      description: `QEMU process is alive${at}`,
      hint: `QEMU exited: see qemu.stderr in the VM folder${at}`,
      maxMs: 5000,
      check: async () => {
        const s = await machine.sample(ref, c.pid ? { pid: c.pid } : {});
        c.pid ||= s.pid ?? 0;
        return s.alive || undefined;
      },
    },
    {
      description: 'QMP answers "running"',
      hint: `QEMU is up but its monitor does not answer${ref.qmpPort ? ` (127.0.0.1:${ref.qmpPort}${at})` : ''}; see qemu.stderr`,
      maxMs: 15_000,
      record: 'qmpS',
      check: async () => {
        const s = await withQmp(machine, ref, 1000, (q) => q.execute<QmpStatus>('query-status', undefined, 1000));
        failIfDead(s.status);
        return s.status === 'running' || undefined;
      },
    },
    ...(sshForward
      ? [
          {
            description: `port ${sshForward.bind}:${sshForward.host} accepts${at}`,
            hint: 'QEMU’s user network did not open the forward',
            maxMs: 10_000,
            record: 'portS' as const,
            check: async () => (await dialSsh()).destroy() && true,
          },
          {
            description: 'SSH banner',
            get hint() {
              return c.kvmHint ?? 'the guest did not start sshd: see the serial log below';
            },
            maxMs: 300_000,
            record: 'bannerS' as const,
            check: () => banners!.poll(),
          },
          {
            description: '`uname -a` over SSH',
            hint: 'sshd answers but refuses the lab key or the command: see the serial log',
            maxMs: 60_000,
            record: 'sshS' as const,
            check: async () => {
              const g = await connect(banners!.take(), machine.slow ? 8000 : 5000);
              try {
                c.uname = (await g.succeed('uname -a')).trim();
              } catch (err) {
                g.close();
                throw err;
              }
              c.guest = g;
              return c.uname;
            },
          },
          // A cloud image is ready when cloud-init has done its work (users, keys, packages).
          {
            description: 'cloud-init finished',
            enabled: () => c.boot?.slow === true,
            hint: `cloud-init has not finished: see the serial log, or run \`cloud-init status --long\` in the guest (exec ${vm.name} -- cloud-init status --long)`,
            maxMs: 600_000,
            // On the session that ran uname: a handshake with a Debian under TCG costs ~0.7 s.
            check: async () => {
              const g = c.guest ?? (c.guest = await connect());
              try {
                return (await g.exec('test -f /var/lib/cloud/instance/boot-finished')).code === 0 || undefined;
              } catch (err) {
                g.close(); // a broken session: the next try makes a new one
                c.guest = undefined;
                throw err;
              }
            },
          },
        ]
      : []),
  ];

  /** A status that means the guest is dead will not change by waiting. */
  const failIfDead = (status: string) => {
    if (DEAD_QMP.has(status))
      throw new FatalError(
        `the guest stopped: QMP status ${status}`,
        status === 'internal-error'
          ? (c.kvmHint ?? 'KVM could not run the guest; try accel: tcg')
          : status === 'io-error'
            ? `QEMU could not write the VM's disk: is the filesystem that holds ${ref.paths.dir}${at} full? (df there; boot --fresh starts from a new overlay)`
            : 'see the serial log below',
      );
  };

  // Between tries: is QEMU still there, and is the guest alive by QMP's account?  QMP is
  // asked at most once a second (each command takes QEMU's big lock and stalls the vCPUs),
  // and a slow machine's liveness too (each check forks on the CPU the guest boots on).
  // The serial console is read for a kernel panic every 2 s (5 s inside a parent: one exec each).
  let lastAlive = 0;
  let lastQmp = 0;
  let lastSerial = 0;
  let lastLost = 0;
  const watch = async () => {
    if (opts.signal?.aborted) throw new FatalError('interrupted', 'the QEMU this boot started is being stopped');
    // Asked first and on its own clock: once the parent is gone, every call into it below
    // would wait for its SSH session to time out.
    if (machine.lost && Date.now() - lastLost >= 5000) {
      lastLost = Date.now();
      const gone = await machine.lost().catch(() => undefined);
      if (gone) throw new MachineLost(`${gone}, and ${vm.name} with it`, lostHint(lab.name));
    }
    if (!c.pid || (machine.slow && Date.now() - lastAlive < 1000)) return;
    lastAlive = Date.now();
    if (!(await machine.sample(ref, { pid: c.pid })).alive) throw new FatalError(`QEMU exited during boot${at}`, c.kvmHint);
    if (Date.now() - lastSerial >= (machine.slow ? 5000 : 2000)) {
      lastSerial = Date.now();
      const panic = await consolePanic(machine, ref, 30);
      if (panic)
        throw new GuestPanicked(
          `its kernel panicked during boot: ${panic}`,
          machine.inside && c.accel === 'kvm'
            ? `a nested guest can panic at random when its parent's KVM is itself emulated (a parent on TCG); boot it again: npx tsx tasks.ts boot ${vm.name}`
            : 'see the serial log below',
        );
    }
    if (c.metrics.qmpS === undefined || Date.now() - lastQmp < 1000) return;
    lastQmp = Date.now();
    const s = await withQmp(machine, ref, 1000, (q) => q.execute<QmpStatus>('query-status', undefined, 1000)).catch(() => undefined);
    if (s) failIfDead(s.status);
  };

  const list = progressList<Record<string, never>>(
    [
      {
        title: `${vm.name}: prepare (image, disk, keys, ports)${at}`,
        task: async (_, t) => {
          c.probe = await preflight(machine, lab, place, ref, forwards, opts);
          const accel = chooseAccel(vm, c.probe.kvm);
          c.accel = accel.accel;
          if (accel.accel === 'kvm' && c.probe.kvm.state !== 'usable') {
            c.kvmHint = `KVM is ${c.probe.kvm.state}${at || ' here'} (${c.probe.kvm.reason}): set accel: auto or tcg for ${vm.name}`;
            opts.warn?.(`${vm.name}: accel=kvm but ${c.kvmHint}`);
          }
          if (accel.accel === 'tcg' && machine.inside)
            opts.warn?.(`${vm.name}: no usable KVM${at} (${c.probe.kvm.reason}); TCG inside TCG is slow (~110 s for the tiny guest)`);
          c.boot = await prepareInputs({ lab, place, machine, ref, fresh: opts.fresh === true, warn: opts.warn });
          await machine.prepare(ref, c.boot.overlays);
          c.hostKey = pinKey(lab, place, c.boot.hostKey);
          c.plan = qemuPlan({ ...vm, ...c.boot.as }, c.probe.kvm, {
            ...c.boot.inputs,
            home: machine.home,
            vm: ref.paths,
            authorizedKey: labKeys(lab.name).publicKey,
            qmpTcpPort: ref.qmpPort,
          });
          c.args = c.plan.flatMap((s) => s.args);
          if (opts.savedArgv) checkSameDevices(vm.name, withoutLoadvm(opts.savedArgv).slice(1), c.args);
          if (opts.loadvm) c.args.push('-loadvm', opts.loadvm);
          c.budgetMs = bootBudgetMs(c.accel, c.probe.kvm, { timeoutS: opts.timeoutS, slow: c.boot.slow, slowMachine: machine.slow });
          if (sshForward) banners = bannerPoller(dialSsh, c.boot.slow ? 8000 : machine.slow ? 1500 : 500, c.boot.slow ? { gapMs: 2000, max: 2 } : {});
          t.title = `${vm.name}: prepared${at} (accel ${c.accel}${c.accel === 'tcg' && vm.accel === 'auto' ? `, KVM ${c.probe.kvm.state}` : c.probe.kvm.state === 'usable' ? `, ${c.probe.kvm.vendor}` : ''})`;
        },
      },
      {
        title: `${vm.name}: launch QEMU${at}`,
        task: async () => {
          c.started = Date.now();
          const r = await machine.start(ref, c.args, c.plan);
          if (r.code !== 0) {
            await machine.cleanRuntime(ref); // a pidfile written before the refusal would read as a crash
            const why = explainRefusal(r.stderr, c.accel, c.probe.kvm, vm.name, machine.inside);
            throw new QemuRefused(why.message, { command: r.command, exitCode: r.code, stderr: r.stderr, hint: why.hint });
          }
          c.pid = r.pid ?? 0;
          writeState(record, {
            lab: lab.name,
            vm: vm.name,
            phase: 'booting',
            pid: c.pid || undefined,
            startedAt: new Date(c.started).toISOString(),
            accel: c.accel,
            argv: r.command,
            forwards,
            ssh: sshForward ? { host: sshForward.bind, port: sshForward.host, user: vm.ssh.user } : undefined,
            image: c.boot.image,
            parent: place.parent?.name,
            qmpPort: ref.qmpPort,
          });
        },
      },
      ...stageTasks<Record<string, never>>(vm.name, stages, { started: () => c.started, deadline: () => c.started + c.budgetMs, watch, metrics: c.metrics }),
    ],
    { quiet: opts.quiet },
  );

  try {
    await list.run({});
  } catch (err) {
    banners?.close();
    c.guest?.close();
    if (!c.started) throw err; // failed before QEMU started: nothing to clean
    throw await failBoot(machine, lab, place, ref, c.pid, err, c.started, opts);
  }
  banners?.close();
  if (c.guest) (opts.keepSession ?? ((g: Guest) => g.close()))(c.guest);
  updateState(record, { phase: 'running', metrics: c.metrics });
  return { lab: lab.name, vm: vm.name, pid: c.pid, accel: c.accel, forwards, metrics: c.metrics, uname: c.uname };
}

/** Before anything starts: QEMU there, the VM not already up, room for it, its ports free. */
async function preflight(machine: Machine, lab: LabResolved, place: VmPlace, ref: QemuRef, forwards: Forward[], opts: BootOptions): Promise<MachineProbe> {
  const vm = place.vm;
  const at = machine.at;
  const probe = await machine.probe(forwards);
  // A parent makes its children's overlays with qemu-img; this host makes them in-process too.
  const missing = [probe.qemu ? undefined : 'qemu-system-x86_64', probe.qemuImg || !machine.inside ? undefined : 'qemu-img'].filter(Boolean);
  if (missing.length)
    throw new TaskError(`${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not installed ${machine.where}`, { hint: machine.installHint });
  if (!opts.checked) {
    const live = await vmStatus(machine, lab, place);
    if (live.state === 'running' || live.state === 'booting')
      throw new TaskError(`${vm.name} is already ${live.state}${at} (pid ${live.pid})`, { hint: `stop it first: npx tsx tasks.ts stop ${vm.name}` });
    if (live.state === 'crashed') {
      if (live.pid && (await machine.sample(ref, { pid: live.pid })).alive)
        throw new TaskError(`${vm.name} crashed but its QEMU (pid ${live.pid}) still runs${at}: ${live.reason}`, {
          hint: `clean up first: npx tsx tasks.ts stop ${vm.name}`,
        });
      opts.warn?.(`${vm.name}: cleaning up after a crash (${live.reason})`);
      await machine.cleanRuntime(ref);
    }
  }
  if (vm.memory > probe.memoryMiB)
    throw new UsageError(`${place.path}.memory: ${vm.memory} MiB is more than ${place.parent ? place.parent.name : 'this host'} has (${probe.memoryMiB} MiB)`);
  const taken = probe.taken[0];
  if (taken)
    throw new TaskError(`port ${taken.forward.bind}:${taken.forward.host} is taken${at}${taken.holder ? ` by ${taken.holder}` : ''}; not starting QEMU`, {
      hint: 'stop what holds it, or change network.sshPort/forwards in the spec',
    });
  return probe;
}

/** QEMU loads a saved state only into the machine it was saved from: the same devices, disks and files. */
function checkSameDevices(name: string, saved: string[], now: string[]): void {
  const i = saved.findIndex((a, j) => a !== now[j]);
  if (i === -1 && saved.length === now.length) return;
  const at = i === -1 ? Math.min(saved.length, now.length) : i;
  throw new UsageError(
    `${name}'s saved state was made with another command line: argument ${at + 1} was ${JSON.stringify(saved[at] ?? '(none)')}, now ${JSON.stringify(now[at] ?? '(none)')} (the spec or an image changed since)`,
    'boot it cold instead: npx tsx tasks.ts up LAB --cold (the saved state is kept as a snapshot)',
  );
}

/** Pins the guest's host key for the lab, or finds the one pinned before; the kit never connects to an unknown key. */
function pinKey(lab: LabResolved, place: VmPlace, hostKey: string | undefined): string | undefined {
  if (place.vm.network.sshPort === undefined) return hostKey;
  const keys = labKeys(lab.name);
  const alias = hostKeyAlias(lab.name, place.vm.name);
  if (hostKey) pinHostKey(keys.knownHostsPath, alias, hostKey);
  const pinned = hostKey ?? pinnedHostKey(keys.knownHostsPath, alias);
  if (!pinned)
    throw new UsageError(
      `${place.vm.name}: no pinned SSH host key (${alias})`,
      `add "${alias} <key type> <key>" to ${keys.knownHostsPath}: the kit never connects to an unknown host key`,
    );
  return pinned;
}

async function failBoot(
  machine: Machine,
  lab: LabResolved,
  place: VmPlace,
  ref: QemuRef,
  pid: number,
  err: unknown,
  started: number,
  opts: BootOptions,
): Promise<TaskError> {
  const elapsed = ((Date.now() - started) / 1000).toFixed(1);
  const message = err instanceof Error ? err.message : String(err);
  const hint = (err as { hint?: string }).hint;
  // A boot that failed for another reason first (an SSH session that timed out) may have lost
  // its parent too, or the parent stopped answering: the deeper question, asked once here.
  const lost =
    err instanceof MachineLost
      ? message
      : await machine.lost?.({ answering: true }).then(
          (gone) => gone && `${gone}, and ${place.vm.name} with it`,
          () => undefined,
        );
  // Inside a lost parent nothing is left to read or stop: the guest's QEMU ran in the one that is gone.
  const [serial, stderr] = lost
    ? ['', '']
    : await Promise.all([machine.tail(ref.paths.serial, 20).catch(() => ''), machine.tail(ref.paths.stderr, 20).catch(() => '')]);
  if (!lost && !opts.keepOnFailure && pid) await stopQemu(machine, ref, pid, { graceful: false }).catch(() => undefined);
  // A QEMU that refused to start left no record yet: write one, so `status` says why.
  const record = kitPaths(lab.name, place.vm.name).vm;
  const failed = { phase: 'failed' as const, failure: lost ?? message, pid: opts.keepOnFailure && !lost ? pid : undefined };
  if (!updateState(record, failed)) writeState(record, { lab: lab.name, vm: place.vm.name, ...failed });
  if (lost)
    return new ParentLost(`${lab.name}/${place.vm.name} failed to boot${machine.at} after ${elapsed} s: ${lost}`, machine.inside!, lostHint(lab.name), err);
  if (err instanceof QemuRefused) return err;
  const at = machine.at;
  return new TaskError(
    `${lab.name}/${place.vm.name} failed to boot${at} after ${elapsed} s: ${message}\n  serial console (last 20 lines):\n${indent(serial || '(empty)')}${stderr ? `\n  QEMU stderr:\n${indent(stderr)}` : ''}${opts.keepOnFailure ? '' : '\n  (QEMU was stopped; pass --keep to leave it running)'}`,
    { hint, cause: err },
  );
}

const lostHint = (lab: string) =>
  `its parent must boot again (a cold boot loses nothing a panicked kernel had not lost): npx tsx tasks.ts down ${lab} --force, then up ${lab}`;

const indent = (t: string) =>
  t
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
