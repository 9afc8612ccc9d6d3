// tasks/vm/: one VM on its machine — boot (these boot-*.ts files), stop, status, what it boots
// (inputs.ts, carry.ts), and reaching it over SSH at any depth (target.ts).
//
// Booting one VM on its machine — this host or inside its parent, the same path for both:
// preflight → prepare → launch → staged readiness.  Readiness is data (lima's requirements,
// the NixOS driver's retry): ordered stages, each with a time limit and a hint, run as
// progress.  A QEMU that dies, or a QMP status that means the guest is dead, fails at once
// instead of waiting out the timeout.  A failed boot stops the QEMU it started, keeps its
// logs, and reports the stage, the time, the serial console's tail and QEMU's stderr.
// What to boot (images, disks, seeds) comes from `inputs`, above the kit: the kit never
// builds images itself.
import { UsageError } from '../util/errors.ts';
import { kitPaths } from '../util/paths.ts';
import { mapsRamFromFile, qemuPlan, type ArgInputs } from '../qemu/args.ts';
import { chooseAccel } from '../qemu/accel.ts';
import { isVersioned, machineToRun } from '../qemu/machine-type.ts';
import { forwardsOf, type Forward, type LabResolved, type VmPlace, type VmResolved } from '../spec/tree.ts';
import type { Guest } from '../ssh/guest.ts';
import { labKeys } from '../ssh/keys.ts';
import { bannerPoller } from '../ssh/banner.ts';
import { readState, updateState, writeState, type BootMetrics, type VmState } from '../machine/record.ts';
import { withQmp, type Machine, type Overlay, type QemuRef } from '../machine/machine.ts';
import { copyRam, dropRunningRam, forgetRam, savedRam } from '../machine/ram-file.ts';
import { loadDevices } from '../qemu/migrate.ts';
import { explainRefusal } from '../qemu/refusal.ts';
import { progressList } from '../cli/progress.ts';
import { stageTasks } from './readiness.ts';
import { type BootRun, dialSsh } from './boot-run.ts';
import { bootBudgetMs, bootStages } from './boot-stages.ts';
import { bootWatch } from './boot-watch.ts';
import { checkSameDevices, pinKey, preflight } from './boot-preflight.ts';
import { bootAgainFor, failBoot } from './boot-failure.ts';
import { QemuRefused } from '../util/errors.ts';

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
  /** Start from the devices saved in this file, the RAM in the VM's RAM file (-incoming): a resume. */
  incoming?: string;
  /** The command line the saved state was made with: a different one now (spec or image changed) is refused. */
  savedArgv?: string[];
  /**
   * Takes the SSH session that ran `uname -a`, once the boot succeeded, instead of closing it
   * (the taker closes it): a caller about to talk to the guest saves a handshake, ~0.4 s
   * under TCG, ~0.7 s with a Debian.
   */
  keepSession?: (guest: Guest) => void;
  /**
   * Boot as an installer (`install`): the VM's disk with this ISO, the CD first once and then
   * the disk, on this screen; ready once QMP says running, as an installer has no SSH yet.
   */
  installer?: { iso: string; display: 'gtk' | 'vnc' };
  /** Ready once QMP says running, no SSH stage: the caller asks the guest itself (a resume, through the port shells). */
  readyWhenRunning?: boolean;
}

/** A command line without its -loadvm or -incoming, to compare the devices of two runs. */
export const withoutLoadvm = (argv: string[]) => {
  const from = (a: string | undefined) => a === '-loadvm' || a === '-incoming';
  return argv.filter((a, i) => !from(a) && !from(argv[i - 1]));
};

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

/**
 * Boots `place` on `machine` and waits until SSH runs `uname -a` (and cloud-init is done).
 * A cold boot that panicked or hung is stopped and tried once more, saying so (bootAgainFor).
 *
 * A VM that has not come up once on its root disk (record.firstBoot) boots again on a new
 * one, here and wherever it boots next (`up` booting a lost parent again, then its child):
 * its disk may hold half a first boot.  Seen in debian-nest's child after its parent was
 * lost: cloud-init had written the pinned host key, the files reached the disk empty while
 * its once-per-instance marks reached it whole, so the next boot skipped the key, sshd failed
 * for want of one, and the boot waited out its 300 s for a banner.  A disk that has been up
 * is the user's, and is kept.
 */
export async function bootOn(machine: Machine, lab: LabResolved, place: VmPlace, prepareInputs: PrepareInputs, opts: BootOptions = {}): Promise<BootResult> {
  const first: Try = { first: true };
  try {
    return await bootOnce(machine, lab, place, prepareInputs, opts, first);
  } catch (err) {
    // KVM forced where it cannot work fails the same way every time: its short leash is the point.
    const again = first.forcedKvm ? undefined : bootAgainFor(err, opts);
    if (!again) throw err;
    const anew = readState(kitPaths(lab.name, place.vm.name).vm)?.firstBoot === true;
    // A panic's reason is the guest's own words; a hang's is the whole failure, which names where.
    const where = again.detail === undefined ? machine.at : '';
    opts.warn?.(
      `${place.vm.name}: ${again.reason}${where}; its QEMU was stopped, booting it once more${anew ? ' on a new root disk (its first boot may be half done on the old one)' : ''}${again.detail ? `\n${again.detail}` : ''}`,
    );
    return bootOnce(machine, lab, place, prepareInputs, { ...opts, checked: true }, { first: false, again: again.reason });
  }
}

/** One try of a boot: the first may be cut short (a hang); what it learnt decides on a second. */
interface Try {
  first: boolean;
  forcedKvm?: boolean;
  /** A second try: why the first failed, kept in the boot's metrics. */
  again?: string;
}

async function bootOnce(machine: Machine, lab: LabResolved, place: VmPlace, inputsOf: PrepareInputs, opts: BootOptions, attempt: Try): Promise<BootResult> {
  const vm = place.vm;
  const at = machine.at;
  const record = kitPaths(lab.name, vm.name).vm;
  const ref = machine.ref(lab, place);
  const forwards = forwardsOf(vm);
  const sshForward = opts.installer ? undefined : forwards.find((f) => f.guest === 22 && f.proto === 'tcp');
  if (place.parent && !sshForward) throw new UsageError(`${vm.name}: a nested VM needs network.sshPort (inside ${place.parent.name}) to be reached`);

  const metrics: BootMetrics = attempt.again ? { bootedAgain: attempt.again } : {};
  const c: BootRun = { machine, lab, place, ref, sshForward, started: 0, pid: 0, metrics, uname: '', args: [] };
  // A first boot that never came up leaves a disk not to be trusted: this boot makes it anew.
  const before = readState(record);
  const fresh = opts.fresh === true || (before?.firstBoot === true && !opts.loadvm && !opts.incoming);
  // The RAM in a file where the machine keeps it so; a resume as it was saved (in memory again
  // where there is room, else mapped from where it was saved).
  const ramFile = opts.savedArgv
    ? mapsRamFromFile(opts.savedArgv)
      ? (machine.ramFileFor?.(ref, vm.memory) ?? savedRam(ref))
      : undefined
    : machine.ramFileFor?.(ref, vm.memory);
  const firstBoot = fresh || !before;
  const stages = bootStages(c, { ssh: !opts.readyWhenRunning });
  const watch = bootWatch(c, opts);

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
            attempt.forcedKvm = true;
            opts.warn?.(`${vm.name}: accel=kvm but ${c.kvmHint}`);
          }
          if (accel.accel === 'tcg' && machine.inside)
            opts.warn?.(`${vm.name}: no usable KVM${at} (${c.probe.kvm.reason}); TCG inside TCG is slow (~110 s for the tiny guest)`);
          // Beside the inputs: a first boot asks its QEMU what the spec's machine type is now (it never throws).
          const qemu = c.probe.qemu ?? 'qemu-system-x86_64';
          const pinning = machineToRun(vm.machine, {
            pin: before?.machine,
            savedArgv: opts.savedArgv,
            fresh,
            help: () => machine.run([qemu, '-machine', 'help'], 20_000),
          });
          c.boot = await inputsOf({ lab, place, machine, ref, fresh, warn: opts.warn });
          c.pin = await pinning;
          await machine.prepare(ref, c.boot.overlays);
          c.hostKey = sshForward ? pinKey(lab, place, c.boot.hostKey) : undefined;
          const installer = opts.installer ? { boot: { iso: opts.installer.iso }, display: opts.installer.display } : {};
          c.plan = qemuPlan({ ...vm, machine: c.pin.type, ...c.boot.as, ...installer }, c.probe.kvm, {
            ...c.boot.inputs,
            home: machine.home,
            vm: ref.paths,
            authorizedKey: labKeys(lab.name).publicKey,
            qmpTcpPort: ref.qmpPort,
            ramFile,
            dataDirs: machine.qemuDataDirs?.(),
          });
          if (opts.installer)
            c.plan = c.plan.map((s) =>
              s.section === 'boot' ? { ...s, args: ['-boot', 'order=c,once=d'], note: 'the installer CD first, once; after its reboot, the disk' } : s,
            );
          c.args = c.plan.flatMap((s) => s.args);
          if (opts.savedArgv) checkSameDevices(vm.name, withoutLoadvm(opts.savedArgv).slice(1), c.args);
          if (opts.loadvm) c.args.push('-loadvm', opts.loadvm);
          if (opts.incoming) c.args.push('-incoming', 'defer');
          // The last boot's time says when this one has hung: a first, cold try under the same accelerator.
          const likeLast = attempt.first && !opts.loadvm && !opts.incoming && before?.accel === c.accel;
          const lastSshS = likeLast ? before?.metrics?.sshS : undefined;
          c.budgetMs = bootBudgetMs(c.accel, c.probe.kvm, { timeoutS: opts.timeoutS, slow: c.boot.slow, slowMachine: machine.slow, lastSshS });
          if (sshForward && !opts.readyWhenRunning)
            c.banners = bannerPoller(() => dialSsh(c), c.boot.slow ? 8000 : machine.slow ? 1500 : 500, c.boot.slow ? { gapMs: 2000, max: 2 } : {});
          t.title = `${vm.name}: prepared${at} (accel ${c.accel}${c.accel === 'tcg' && vm.accel === 'auto' ? `, KVM ${c.probe.kvm.state}` : c.probe.kvm.state === 'usable' ? `, ${c.probe.kvm.vendor}` : ''})`;
        },
      },
      {
        title: `${vm.name}: launch QEMU${at}`,
        // After prepare: the plan, probe, accelerator, inputs and budget are set.
        task: async () => {
          c.started = Date.now();
          // A cold start must not map the RAM a stopped or discarded run left in the file; a
          // resume maps a copy of the saved one, which stays as saved until the resume is done.
          if (ramFile && !opts.incoming) await forgetRam(machine, ref);
          if (ramFile && opts.incoming && ramFile !== savedRam(ref)) await copyRam(machine, savedRam(ref), ramFile);
          const r = await machine.start(ref, c.args, c.plan);
          if (r.code !== 0) {
            await machine.cleanRuntime(ref); // a pidfile written before the refusal would read as a crash
            await dropRunningRam(machine, ref);
            const why = explainRefusal(r.stderr, c.accel!, c.probe!.kvm, vm.name, machine.inside, ref.paths.dir);
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
            image: c.boot!.image,
            parent: place.parent?.name,
            qmpPort: ref.qmpPort,
            firstBoot: firstBoot || undefined,
            machine: c.pin && isVersioned(c.pin.type) ? c.pin : undefined,
          });
          if (opts.incoming) {
            const file = opts.incoming;
            await withQmp(machine, ref, 5000, (q) => loadDevices(q, file));
          }
        },
      },
      ...stageTasks<Record<string, never>>(vm.name, stages, {
        started: () => c.started,
        deadline: () => c.started + c.budgetMs!,
        watch,
        metrics: c.metrics,
        reconnects: () => machine.reconnects ?? 0,
        at,
      }),
    ],
    { quiet: opts.quiet },
  );

  try {
    await list.run({});
    // Inside: a record that cannot be written (a full disk) fails the boot like a stage.
    updateState(record, { phase: 'running', metrics: c.metrics, firstBoot: undefined });
  } catch (err) {
    c.banners?.close();
    c.guest?.close();
    if (!c.started) throw err; // failed before QEMU started: nothing to clean
    throw await failBoot(machine, lab, place, ref, c.pid, err, c.started, opts);
  }
  c.banners?.close();
  // The progress said it; without progress (--json, parallel boots) a warning does.
  if (opts.quiet)
    for (const r of c.metrics.retries ?? []) opts.warn?.(`${vm.name}: retried ${r.stage} ${r.times}× after a dropped SSH connection: ${r.reason}`);
  if (c.guest) (opts.keepSession ?? ((g: Guest) => g.close()))(c.guest);
  return { lab: lab.name, vm: vm.name, pid: c.pid, accel: c.accel!, forwards, metrics: c.metrics, uname: c.uname };
}
