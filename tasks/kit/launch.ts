// Booting one VM on this host: preflight → launch → staged readiness.
// Readiness is data (lima's requirements, the NixOS driver's retry): an ordered list of
// stages, each with a timeout and a hint, run as progress.  A QEMU that dies, or a QMP
// status that means the guest is dead (internal-error under unusable KVM), fails at once
// instead of waiting out the timeout.  A failed boot stops the QEMU it started, keeps its
// logs, and reports the stage, the time, the serial console's tail and QEMU's stderr.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, chmodSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { dirname, join } from 'node:path';
import { TaskError, UsageError } from './errors.ts';
import { probeHost, type HostProbe } from './host-probe.ts';
import { expandPath, kitPaths, stateRoot, type KitPaths } from './paths.ts';
import { chooseAccel, imageRootDisk, qemuArgs, type ArgInputs } from './qemu-args.ts';
import { forwardsOf, type LabResolved, type VmPlace } from './resolve.ts';
import { FatalError } from './retry.ts';
import { qmpOnce, type QmpStatus } from './qmp.ts';
import { hostKeyAlias, labKeys, pinHostKey, pinnedHostKey } from './keys.ts';
import { Guest, HostKeyMismatch } from './guest.ts';
import { portFree, portHolder } from './ports.ts';
import { cleanRuntimeFiles, isOurQemu, liveStatus, readPidfile, readState, runningQemuPid, updateState, writeState, type BootMetrics, type Forward, type VmState } from './vm-state.ts';
import { createDisk, imgInfo } from './disk-image.ts';
import { progressList } from './progress.ts';
import { stageTasks, type Stage } from './readiness.ts';
import { buildImage, imagePaths, readManifest, type BuiltImage } from '../image/build.ts';
import { stopQemu } from './shutdown.ts';
import { prepareCloudImage } from '../cloud/prepare.ts';
import { prepareFirmware } from './firmware.ts';
import { explainRefusal, type Refusal } from './qemu-refusal.ts';

/** QEMU exited while starting: its own stderr says why, so no serial log is added. */
class QemuRefused extends TaskError {}

export interface BootOptions {
  quiet?: boolean;
  /** Seconds for the whole boot; default by accelerator. */
  timeoutS?: number;
  /** Leave a QEMU whose boot failed running, for debugging. */
  keepOnFailure?: boolean;
  /** Make a new root disk from the current image (the old one's changes are lost). */
  fresh?: boolean;
  warn?: (message: string) => void;
  /** Aborted (Ctrl-C): the boot stops at its next check and the QEMU it started is stopped. */
  signal?: AbortSignal;
}

export interface BootResult {
  lab: string;
  vm: string;
  pid: number;
  accel: 'kvm' | 'tcg';
  forwards: Forward[];
  metrics: BootMetrics;
  uname: string;
}

const tail = (file: string, n: number) => (existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n') : '');

/** Which VM of ours holds a host port, from the state files of running VMs. */
function ourVmOnPort(port: number): string | undefined {
  const root = stateRoot();
  if (!existsSync(root)) return undefined;
  for (const lab of readdirSync(root)) {
    const labDir = join(root, lab);
    let vms: string[] = [];
    try {
      vms = readdirSync(labDir);
    } catch {
      continue;
    }
    for (const vm of vms) {
      try {
        const s = JSON.parse(readFileSync(join(labDir, vm, 'state.json'), 'utf8')) as VmState;
        if (s.pid && s.forwards?.some((f) => f.host === port) && existsSync(`/proc/${s.pid}`)) return `VM ${lab}/${vm} (pid ${s.pid})`;
      } catch {
        /* not a VM folder */
      }
    }
  }
  return undefined;
}

export async function checkPorts(forwards: Forward[]): Promise<void> {
  for (const f of forwards) {
    if (f.proto !== 'tcp') continue;
    if (await portFree(f.bind, f.host)) continue;
    const holder = ourVmOnPort(f.host) ?? (() => {
      const h = portHolder(f.host);
      return h ? `pid ${h.pid} (${h.command})` : undefined;
    })();
    throw new TaskError(`port ${f.bind}:${f.host} is taken${holder ? ` by ${holder}` : ''}; not starting QEMU`, {
      hint: 'stop what holds it, or change network.sshPort/forwards in the spec',
    });
  }
}

/**
 * One SSH banner read: slirp accepts at once and closes when the guest's port is not
 * listening yet.  On success the socket is kept, its bytes pushed back, so SSH can start
 * on it without a second connection (and a second fork of the guest's sshd).
 */
/** Opens a stream to a guest's port: a TCP socket here, or an SSH tunnel through a parent. */
export type Dial = () => Duplex | Promise<Duplex>;

/** A plain TCP connection to host:port. */
export const tcpDial = (host: string, port: number): Dial => () => connect({ host, port });

async function readBanner(dial: Dial, timeoutMs: number, sockets: Set<Duplex>): Promise<{ banner: string; sock: Duplex }> {
  const sock = await dial();
  return new Promise((resolve, reject) => {
    sockets.add(sock);
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => {
      chunks.push(c);
      const data = Buffer.concat(chunks);
      const nl = data.indexOf(10);
      if (nl < 0) return;
      const line = data.subarray(0, nl).toString('latin1').trim();
      if (!line.startsWith('SSH-')) return fail(new Error(`not an SSH banner: ${line.slice(0, 40)}`));
      clearTimeout(timer);
      sock.off('data', onData).off('error', fail).off('close', onClose);
      sock.pause();
      sock.unshift(data);
      sockets.delete(sock);
      resolve({ banner: line, sock });
    };
    const fail = (err: Error) => {
      clearTimeout(timer);
      sock.destroy();
      sockets.delete(sock);
      reject(err);
    };
    const onClose = () => fail(new Error('connection closed before the banner'));
    const timer = setTimeout(() => fail(new Error('no banner yet')), timeoutMs);
    sock.on('data', onData).on('error', fail).on('close', onClose);
  });
}

/**
 * Overlapping banner reads.  A connection made before the guest's network is up waits on
 * slirp's SYN retries (1 s, 2 s, …); starting a fresh one every 100 ms (each given
 * `attemptMs`, at most 4 at once),
 * without waiting for the older ones, catches sshd soon after it listens.
 */
export function bannerPoller(dial: Dial, attemptMs = 500, pace: { gapMs?: number; max?: number } = {}) {
  const gapMs = pace.gapMs ?? 100;
  const max = pace.max ?? 4;
  const sockets = new Set<Duplex>();
  let found: { banner: string; sock: Duplex } | undefined;
  let lastError = 'no answer yet';
  let lastStart = 0;
  return {
    poll: async (): Promise<string | undefined> => {
      // Few and staggered: every connection that reaches sshd costs the guest a fork.
      if (!found && sockets.size < max && Date.now() - lastStart >= gapMs) {
        lastStart = Date.now();
        readBanner(dial, attemptMs, sockets).then(
          (b) => {
            if (found) b.sock.destroy();
            else found = b;
          },
          (e: Error) => (lastError = e.message),
        );
      }
      if (found) return found.banner;
      throw new Error(lastError);
    },
    /** The socket that brought the banner, once; later callers connect afresh. */
    take: (): Duplex | undefined => {
      const sock = found?.sock;
      if (found) found = { ...found, sock: undefined as unknown as Duplex };
      return sock;
    },
    close: () => {
      for (const sk of sockets) sk.destroy();
      sockets.clear();
      found?.sock?.destroy();
    },
  };
}

function waitExit(child: ReturnType<typeof spawn>, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new TaskError(`QEMU did not finish starting within ${timeoutMs / 1000} s`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Boots a top-level VM of `lab` and waits until SSH runs `uname -a`. */
export async function bootVm(lab: LabResolved, place: VmPlace, opts: BootOptions = {}): Promise<BootResult> {
  const vm = place.vm;
  if (place.depth > 1) throw new UsageError(`${vm.name} is nested inside ${place.parent!.name}; it boots inside its parent (the nest/up tasks)`);
  const paths = kitPaths(lab.name, vm.name);
  const probe = await probeHost();
  const accel = chooseAccel(vm, probe.kvm);
  const forwards = forwardsOf(vm);
  const sshForward = forwards.find((f) => f.guest === 22 && f.proto === 'tcp');
  const isCloud = typeof vm.boot === 'object' && 'cloudImage' in vm.boot;
  // A full distribution with cloud-init under TCG takes minutes, not seconds.
  const budgetMs = bootBudgetMs(accel.accel, probe, opts.timeoutS) * (isCloud && opts.timeoutS === undefined ? 4 : 1);
  const kvmUnusableHint = accel.accel === 'kvm' && probe.kvm.state !== 'usable' ? `KVM is ${probe.kvm.state} here (${probe.kvm.reason}): set accel: auto or tcg for ${vm.name}` : undefined;

  const c = {} as { args: string[]; pid: number; started: number; metrics: BootMetrics; uname: string; hostKey?: string; image?: VmState['image'] };
  c.metrics = {};
  const deadline = () => c.started + budgetMs;

  // OpenSSH in a full distribution forks a process per connection and refuses past
  // MaxStartups: there, fewer, longer, slower attempts (the tiny guest's dropbear answers at once).
  // The guest as the SSH stages reach it: its forward, the spec's user, the lab key, the pinned host key.
  const sshTarget = (f: Forward) => ({ name: vm.name, host: f.bind, port: f.host, user: vm.ssh.user, privateKeyPath: labKeys(lab.name).privateKeyPath, hostKey: c.hostKey! });
  const banners = sshForward ? bannerPoller(tcpDial(sshForward.bind, sshForward.host), isCloud ? 8000 : 500, isCloud ? { gapMs: 2000, max: 2 } : {}) : undefined;
  const stages: Stage[] = [
    {
      description: 'QEMU process is alive',
      hint: 'QEMU exited: see qemu.stderr in the VM folder',
      maxMs: 5000,
      check: async () => {
        const pid = runningQemuPid(paths.vm);
        return pid ? (c.pid = pid) : undefined;
      },
    },
    {
      description: 'QMP answers "running"',
      hint: 'QEMU is up but its monitor does not answer; see qemu.stderr',
      maxMs: 15_000,
      record: 'qmpS',
      check: async () => {
        const s = await qmpOnce<QmpStatus>(paths.vm.qmp, 'query-status', undefined, 1000);
        return s.status === 'running' || undefined;
      },
    },
    ...(sshForward
      ? [
          {
            description: `port ${sshForward.bind}:${sshForward.host} accepts`,
            hint: 'QEMU’s user network did not open the forward',
            maxMs: 10_000,
            record: 'portS' as const,
            check: () =>
              new Promise<boolean>((resolve, reject) => {
                const s = connect({ host: sshForward.bind, port: sshForward.host }, () => {
                  s.destroy();
                  resolve(true);
                });
                s.on('error', reject);
              }),
          },
          {
            description: 'SSH banner',
            hint: kvmUnusableHint ?? 'the guest did not start sshd: see the serial log below',
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
              const g = await Guest.connect(sshTarget(sshForward), 5000, banners!.take()).catch((e) => {
                // A wrong host key will not become right by waiting.
                throw e instanceof HostKeyMismatch ? new FatalError(e.message, e.hint) : e;
              });
              try {
                return (c.uname = (await g.succeed('uname -a')).trim());
              } finally {
                g.close();
              }
            },
          },
          // A cloud image is ready when cloud-init has done its work (users, keys, packages).
          ...(isCloud
            ? [
                {
                  description: 'cloud-init finished',
                  hint: 'cloud-init has not finished: see the serial log, or run `cloud-init status --long` in the guest (exec VM -- cloud-init status --long)',
                  maxMs: 600_000,
                  check: async () => {
                    const g = await Guest.connect(sshTarget(sshForward), 5000);
                    try {
                      return (await g.exec('test -f /var/lib/cloud/instance/boot-finished')).code === 0 || undefined;
                    } finally {
                      g.close();
                    }
                  },
                },
              ]
            : []),
        ]
      : []),
  ];

  // Between tries: is QEMU still there, and is the guest alive by QMP's account?  QMP is
  // asked at most once a second: each command takes QEMU's big lock and stalls the vCPUs.
  let lastQmpCheck = 0;
  const watch = async () => {
    if (opts.signal?.aborted) throw new FatalError('interrupted', 'the QEMU this boot started is being stopped');
    if (!c.pid) return;
    if (!isOurQemu(c.pid, paths.vm)) throw new FatalError('QEMU exited during boot', kvmUnusableHint);
    if (c.metrics.qmpS === undefined || Date.now() - lastQmpCheck < 1000) return;
    lastQmpCheck = Date.now();
    const s = await qmpOnce<QmpStatus>(paths.vm.qmp, 'query-status', undefined, 1000).catch(() => undefined);
    if (s && (s.status === 'internal-error' || s.status === 'guest-panicked' || s.status === 'shutdown'))
      throw new FatalError(`the guest stopped: QMP status ${s.status}`, s.status === 'internal-error' ? kvmUnusableHint ?? 'KVM could not run the guest; try accel: tcg' : 'see the serial log below');
  };

  const list = progressList<Record<string, never>>(
    [
      {
        title: `${vm.name}: prepare (image, disk, keys, ports)`,
        task: async (_, t) => {
          await preflight(lab, place, paths, probe, forwards, opts);
          const prepared = await prepare(lab, place, paths, opts);
          c.hostKey = prepared.hostKey;
          c.image = prepared.image;
          c.args = qemuArgs(vm, probe.kvm, prepared.inputs);
          if (kvmUnusableHint) opts.warn?.(`${vm.name}: accel=kvm but ${kvmUnusableHint}`);
          t.title = `${vm.name}: prepared (accel ${accel.accel}${accel.accel === 'tcg' && vm.accel === 'auto' ? ', KVM unusable here' : ''})`;
        },
      },
      {
        title: `${vm.name}: launch QEMU`,
        task: async () => {
          c.started = Date.now();
          await launch(paths, probe, c.args, (stderr) => explainRefusal(stderr, accel.accel, probe.kvm, vm.name));
          c.pid = readPidfile(paths.vm) ?? 0;
          writeState(paths.vm, {
            lab: lab.name,
            vm: vm.name,
            phase: 'booting',
            pid: c.pid || undefined,
            startedAt: new Date(c.started).toISOString(),
            accel: accel.accel,
            argv: [probe.qemu.path ?? 'qemu-system-x86_64', ...c.args],
            forwards,
            ssh: sshForward ? { host: sshForward.bind, port: sshForward.host, user: vm.ssh.user } : undefined,
            image: c.image,
          });
        },
      },
      ...stageTasks<Record<string, never>>(vm.name, stages, { started: () => c.started, deadline, watch, metrics: c.metrics }),
    ],
    { quiet: opts.quiet },
  );

  try {
    await list.run({});
  } catch (err) {
    banners?.close();
    if (!c.started) throw err; // failed before QEMU started: nothing to clean
    throw await failBoot(lab.name, vm.name, paths, c.pid, err, c.started, opts);
  }
  banners?.close();
  updateState(paths.vm, { phase: 'running', metrics: c.metrics });
  return { lab: lab.name, vm: vm.name, pid: c.pid, accel: accel.accel, forwards, metrics: c.metrics, uname: c.uname ?? '' };
}

/** A working boot of the tiny guest takes ~5 s under TCG; KVM that cannot work gets a short leash. */
function bootBudgetMs(accel: 'kvm' | 'tcg', probe: HostProbe, timeoutS?: number): number {
  if (timeoutS !== undefined) return timeoutS * 1000;
  if (accel === 'kvm' && probe.kvm.state !== 'usable') return 20_000;
  return accel === 'tcg' ? 180_000 : 90_000;
}

async function preflight(lab: LabResolved, place: VmPlace, paths: KitPaths, probe: HostProbe, forwards: Forward[], opts: BootOptions) {
  const vm = place.vm;
  if (!probe.qemu.path) throw new TaskError('qemu-system-x86_64 is not installed', { hint: 'bash scripts/setup-host.sh' });
  const live = await liveStatus(paths.vm, { lab: lab.name, name: vm.name, depth: place.depth });
  if (live.state === 'running' || live.state === 'booting')
    throw new TaskError(`${vm.name} is already ${live.state} (pid ${live.pid})`, { hint: `stop it first: npx tsx tasks.ts stop ${vm.name}` });
  if (live.state === 'crashed') {
    if (live.pid && isOurQemu(live.pid, paths.vm))
      throw new TaskError(`${vm.name} crashed but its QEMU (pid ${live.pid}) still runs: ${live.reason}`, { hint: `clean up first: npx tsx tasks.ts stop ${vm.name}` });
    opts.warn?.(`${vm.name}: cleaning up after a crash (${live.reason})`);
    cleanRuntimeFiles(paths.vm);
  }
  if (vm.memory > probe.memoryMiB)
    throw new UsageError(`${place.path}.memory: ${vm.memory} MiB is more than this host has (${probe.memoryMiB} MiB)`);
  await checkPorts(forwards);
}

async function prepare(lab: LabResolved, place: VmPlace, paths: KitPaths, opts: BootOptions): Promise<{ inputs: ArgInputs; hostKey?: string; image?: VmState['image'] }> {
  const vm = place.vm;
  mkdirSync(paths.vm.dir, { recursive: true, mode: 0o700 });
  chmodSync(paths.vm.dir, 0o700);
  const keys = labKeys(lab.name);
  const inputs: ArgInputs = { ...paths, authorizedKey: keys.publicKey };
  let hostKey: string | undefined;
  let image: VmState['image'];
  await prepareFirmware(vm, paths);
  const boot = vm.boot;
  if (typeof boot === 'object' && 'image' in boot) {
    const current = await buildImage(boot.image, { quiet: true });
    const overlay = imageRootDisk(paths);
    if (opts.fresh) rmSync(overlay, { force: true });
    // A root disk boots with the kernel and initramfs of the image it was made from.
    const img = boot.root === 'disk' && existsSync(overlay) ? await imageOfOverlay(vm.name, overlay, current, readState(paths.vm)) : current;
    if (img.hash !== current.hash) opts.warn?.(`${vm.name}: keeps image ${img.hash}, which its root disk was made from; boot --fresh moves it to ${current.hash} (its changes are lost)`);
    const ip = imagePaths(img);
    inputs.images = { [boot.image]: { kernel: ip.kernel, initrd: ip.initrd, initrdDisk: ip.initrdDisk } };
    // The overlay keeps the guest's writes; the cached image stays untouched.
    if (boot.root === 'disk' && !existsSync(overlay)) {
      await createDisk(overlay, { format: 'qcow2', backing: ip.rootDisk });
      chmodSync(overlay, 0o600);
    }
    hostKey = img.hostKeyPub;
    image = { hash: img.hash, hostKeyPub: img.hostKeyPub, dir: img.dir };
  } else if (typeof boot === 'object' && 'cloudImage' in boot) {
    const cloud = await prepareCloudImage(lab.name, vm, boot, paths, keys.publicKey, opts.fresh === true);
    inputs.cloud = cloud.inputs;
    hostKey = cloud.hostKey;
  } else if (vm.disk) {
    const file = expandPath(vm.disk.file, paths);
    if (!existsSync(file)) {
      opts.warn?.(`${vm.name}: creating its disk ${file}`);
      await createDisk(file, { format: vm.disk.format, size: vm.disk.size, backing: vm.disk.backing ? expandPath(vm.disk.backing, paths) : undefined });
    }
  }
  if (vm.network.sshPort !== undefined) {
    const alias = hostKeyAlias(lab.name, vm.name);
    if (hostKey) pinHostKey(keys.knownHostsPath, alias, hostKey);
    else hostKey = pinnedHostKey(keys.knownHostsPath, alias);
    if (!hostKey)
      throw new UsageError(`${vm.name}: no pinned SSH host key (${alias})`, `add "${alias} <key type> <key>" to ${keys.knownHostsPath}: the kit never connects to an unknown host key`);
  }
  return { inputs, hostKey, image };
}

/** The image an existing overlay was made from: the current one, or an older one still cached. */
async function imageOfOverlay(name: string, overlay: string, current: BuiltImage, state: VmState | undefined): Promise<Pick<BuiltImage, 'dir' | 'files' | 'hash' | 'hostKeyPub'>> {
  if (state?.image?.hash === current.hash) return current;
  const backing = (await imgInfo(overlay))['backing-filename'];
  if (backing === imagePaths(current).rootDisk) return current;
  const dir = backing ? dirname(backing) : '';
  const old = dir ? readManifest(dir) : undefined;
  if (!old)
    throw new TaskError(`${name}'s root disk was made from an image that is no longer usable (${backing ?? 'no backing file'})`, {
      hint: `boot ${name} --fresh makes a new root disk from the current image (the guest's changes are lost)`,
    });
  return { ...old, dir };
}

/** Starts QEMU daemonized; its own errors go to qemu.stderr, which -daemonize would otherwise lose. */
export async function launch(paths: KitPaths, probe: HostProbe, args: string[], explain: (stderr: string) => Refusal): Promise<void> {
  cleanRuntimeFiles(paths.vm);
  // QEMU would create the serial log 0640; made here first, it keeps 0600.
  closeSync(openSync(paths.vm.serial, 'w', 0o600));
  chmodSync(paths.vm.serial, 0o600);
  const errFd = openSync(paths.vm.stderr, 'w', 0o600);
  let code: number | null;
  try {
    const child = spawn(probe.qemu.path!, args, { stdio: ['ignore', errFd, errFd], detached: true });
    code = await waitExit(child, 30_000);
  } finally {
    closeSync(errFd);
  }
  // -daemonize sets umask 027, so QEMU makes the socket and pidfile group-readable;
  // the folder is 0700 already, and these become owner-only too.
  for (const f of [paths.vm.qmp, paths.vm.pid]) if (existsSync(f)) chmodSync(f, 0o600);
  if (code !== 0) {
    const stderr = tail(paths.vm.stderr, 20);
    const why = explain(stderr);
    cleanRuntimeFiles(paths.vm); // a pidfile written before the refusal would read as a crash
    throw new QemuRefused(why.message, { command: [probe.qemu.path!, ...args], exitCode: code, stderr, hint: why.hint });
  }
}

async function failBoot(lab: string, vm: string, paths: KitPaths, pid: number, err: unknown, started: number, opts: BootOptions): Promise<TaskError> {
  const elapsed = ((Date.now() - started) / 1000).toFixed(1);
  const message = err instanceof Error ? err.message : String(err);
  const hint = (err as { hint?: string }).hint;
  const serial = tail(paths.vm.serial, 20);
  const stderr = tail(paths.vm.stderr, 20);
  if (!opts.keepOnFailure && pid) await stopQemu(paths.vm, pid, { graceful: false });
  // A QEMU that refused to start left no record yet: write one, so `status` says why.
  const failed = { phase: 'failed' as const, failure: message, pid: opts.keepOnFailure ? pid : undefined };
  if (!updateState(paths.vm, failed)) writeState(paths.vm, { lab, vm, ...failed });
  if (err instanceof QemuRefused) return err;
  return new TaskError(
    `${lab}/${vm} failed to boot after ${elapsed} s: ${message}\n  serial console (last 20 lines):\n${indent(serial || '(empty)')}${stderr ? `\n  QEMU stderr:\n${indent(stderr)}` : ''}${opts.keepOnFailure ? '' : '\n  (QEMU was stopped; pass --keep to leave it running)'}`,
    { hint, cause: err },
  );
}

const indent = (t: string) => t.split('\n').map((l) => `    ${l}`).join('\n');
