// VMs inside VMs.  A nested VM's QEMU runs in its parent; the host computes its argv
// with the same qemuArgs (from the child's spec and a probe of the parent made from
// inside), launches it over SSH, and reaches it through the parent's connection: QMP on
// the parent's loopback, SSH by direct-tcpip tunnels.  Its state file stays on the host.
import { TaskError, UsageError } from './errors.ts';
import { classifyKvm, type KvmFacts, type KvmVerdict } from './host-probe.ts';
import { chooseAccel, imageRootDisk, qemuArgs } from './qemu-args.ts';
import type { LabResolved, VmPlace } from './resolve.ts';
import { forwardsOf } from './resolve.ts';
import { FatalError } from './retry.ts';
import { explainRefusal } from './qemu-refusal.ts';
import { QmpClient, type QmpStatus } from './qmp.ts';
import { Guest, HostKeyMismatch, shellQuote } from './guest.ts';
import { hostKeyAlias, labKeys, pinHostKey } from './keys.ts';
import { kitPaths, type VmPaths } from './paths.ts';
import { readState, updateState, writeState, type BootMetrics, type VmState, type VmStatus } from './vm-state.ts';
import { progressList } from './progress.ts';
import { stageTasks, type Stage } from './readiness.ts';
import { bannerPoller, type BootResult } from './launch.ts';
import { buildNestImage, childOf } from '../image/build.ts';
import { GUEST_IMAGE_DIR, KVM_MODULES } from '../image/nest.ts';
import { guestTarget, innerPaths, isOurQemuIn, nestedStatus, pidAlive, qmpIn, qmpPortOf, readInner } from './nested-status.ts';

export interface ParentProbe {
  facts: KvmFacts;
  kvm: KvmVerdict;
  memoryMiB: number;
  cpus: number;
  qemuVersion?: string;
  /** From the optional prepare step: the child's SSH port already listens in the parent. */
  portTaken?: boolean;
}

/**
 * Probes a guest from inside: loads its kvm modules (kit images have no modprobe data,
 * so insmod from /lib/modules/gc; others use modprobe), then reads the same facts the host
 * probe reads.  The verdict comes from the same classifyKvm.
 */
export async function probeParent(g: Guest, then = ''): Promise<ParentProbe> {
  const script = [
    `f=$(grep -o -w -m1 'vmx\\|svm' /proc/cpuinfo)`,
    `case "$f" in svm) m=${KVM_MODULES.amd};; vmx) m=${KVM_MODULES.intel};; esac`,
    `if [ -n "$m" ] && [ ! -c /dev/kvm ]; then for x in ${KVM_MODULES.common.join(' ')} $m; do modprobe $x 2>/dev/null || insmod /lib/modules/gc/$x.ko 2>/dev/null; done; fi`,
    'echo "flags=$f"',
    'if [ -c /dev/kvm ]; then [ -r /dev/kvm ] && [ -w /dev/kvm ] && echo devkvm=present || echo devkvm=no-access; else echo devkvm=absent; fi',
    'echo "modules=$(for x in kvm kvm_intel kvm_amd kvm_pvm; do [ -d /sys/module/$x ] && printf "%s " $x; done)"',
    'echo "nested=$(cat /sys/module/kvm_amd/parameters/nested /sys/module/kvm_intel/parameters/nested 2>/dev/null | head -1)"',
    `echo "mem=$(sed -n 's/^MemTotal: *\\([0-9]*\\) kB/\\1/p' /proc/meminfo)"`,
    'echo "cpus=$(grep -c ^processor /proc/cpuinfo)"',
    // Kit images record QEMU's version at build time; elsewhere, ask QEMU.
    'echo "qemu=$(cat /etc/gc/qemu-version 2>/dev/null || qemu-system-x86_64 --version 2>/dev/null | sed -n "s/.*version \\([0-9.]*\\).*/\\1/p")"',
    // Optional work to do in the same round trip (each exec costs a fork under TCG).
    then,
  ].join('\n');
  const out = await g.succeed(script);
  const kv = Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]));
  const facts: KvmFacts = {
    devKvm: (kv.devkvm as KvmFacts['devKvm']) ?? 'absent',
    cpuFlags: { vmx: kv.flags === 'vmx', svm: kv.flags === 'svm' },
    modules: (kv.modules ?? '').split(' ').filter(Boolean),
    nestedParam: kv.nested || undefined,
  };
  return { facts, kvm: classifyKvm(facts), memoryMiB: Math.floor(Number(kv.mem ?? 0) / 1024), cpus: Number(kv.cpus ?? 1), qemuVersion: kv.qemu || undefined, portTaken: kv.port === 'taken' };
}

export interface NestOptions {
  quiet?: boolean;
  /** The caller has just checked that the child is not running. */
  checked?: boolean;
  timeoutS?: number;
  keepOnFailure?: boolean;
  warn?: (m: string) => void;
  /** Aborted (Ctrl-C): the boot stops at its next check and the child's QEMU is stopped. */
  signal?: AbortSignal;
}

/** Boots `place` (a child) inside its running parent and waits until SSH answers through it. */
export async function nestVm(lab: LabResolved, place: VmPlace, parent: Guest, opts: NestOptions = {}): Promise<BootResult> {
  const vm = place.vm;
  const parentVm = place.parent!;
  const hostPaths = kitPaths(lab.name, vm.name).vm;
  const inner = innerPaths(lab.name, vm.name);
  const qmpPort = qmpPortOf(place);
  const forwards = forwardsOf(vm);
  const ssh = forwards.find((f) => f.guest === 22 && f.proto === 'tcp');
  if (!(typeof parentVm.boot === 'object' && 'image' in parentVm.boot && parentVm.boot.image === 'tiny-nest'))
    throw new UsageError(`${vm.name}: its parent ${parentVm.name} must boot image "tiny-nest", which carries QEMU and the child image`);
  if (!(typeof vm.boot === 'object' && 'image' in vm.boot && vm.boot.image === 'tiny'))
    throw new UsageError(`${vm.name}: nested VMs boot the tiny image their parent carries; set boot: {image: "tiny"}`);
  if (!ssh) throw new UsageError(`${vm.name}: a nested VM needs network.sshPort (inside ${parentVm.name}) to be reached`);

  const c = { started: 0, pid: 0, metrics: {} as BootMetrics, uname: '', accel: 'tcg' as 'kvm' | 'tcg', kvm: undefined as KvmVerdict | undefined, args: [] as string[], hostKey: '' };
  // Through a parent under TCG, opening the tunnel alone can take a few hundred ms.
  const banners = bannerPoller(() => parent.forwardOut(ssh.host), 1500);
  // Checked at most once a second: each check forks processes in the parent, whose CPU
  // (under TCG) is the very CPU the child is booting on.
  let lastCheck = 0;
  const watch = async () => {
    if (opts.signal?.aborted) throw new FatalError('interrupted');
    if (!c.pid || Date.now() - lastCheck < 1000) return;
    lastCheck = Date.now();
    if (!(await pidAlive(parent, c.pid, inner))) throw new FatalError(`${vm.name}'s QEMU exited inside ${parentVm.name}`);
    if (c.metrics.qmpS === undefined) return;
    const s = await qmpIn<QmpStatus>(parent, qmpPort, 'query-status').catch(() => undefined);
    if (s && ['internal-error', 'guest-panicked', 'shutdown'].includes(s.status)) throw new FatalError(`${vm.name} stopped: QMP status ${s.status}`);
  };
  const budgetMs = (opts.timeoutS ?? 0) * 1000 || 300_000;

  const stages: Stage[] = [
    {
      description: `QEMU alive inside ${parentVm.name}`,
      hint: 'see qemu.stderr in the parent',
      maxMs: 5000,
      // Pidfile and liveness in one exec: every exec forks under the parent's TCG.
      check: async () => {
        const live = await readInner(parent, inner);
        c.pid ||= live.pid ?? 0;
        return live.alive || undefined;
      },
    },
    { description: 'QMP answers "running"', hint: `QMP on ${parentVm.name}'s 127.0.0.1:${qmpPort}`, maxMs: 15_000, record: 'qmpS', check: async () => (await qmpIn<QmpStatus>(parent, qmpPort, 'query-status', undefined, 1000)).status === 'running' || undefined },
    { description: `port ${ssh.host} accepts inside ${parentVm.name}`, hint: 'QEMU’s user network did not open the forward', maxMs: 10_000, record: 'portS', check: async () => (await parent.forwardOut(ssh.host)).destroy() || true },
    { description: 'SSH banner', hint: 'the child did not start sshd: see its serial log', maxMs: 280_000, record: 'bannerS', check: () => banners.poll() },
    {
      description: '`uname -a` over SSH',
      hint: 'sshd answers but refuses the lab key or the command',
      maxMs: 60_000,
      record: 'sshS',
      check: async () => {
        const g = await parent.connectChild(guestTarget(lab, vm.name, ssh.host, vm.ssh.user, c.hostKey), 8000, banners.take()).catch((e) => {
          throw e instanceof HostKeyMismatch ? new FatalError(e.message, e.hint) : e;
        });
        g.parent = undefined; // the caller owns the parent connection
        try {
          return (c.uname = (await g.succeed('uname -a')).trim());
        } finally {
          g.close();
        }
      },
    },
  ];

  const list = progressList<Record<string, never>>(
    [
      {
        title: `${vm.name}: probe ${parentVm.name} from inside, prepare`,
        task: async (_, t) => {
          if (!opts.checked) {
            const live = await nestedStatus(lab, place, parent);
            if (live.state === 'running' || live.state === 'booting') throw new TaskError(`${vm.name} is already ${live.state} inside ${parentVm.name} (pid ${live.pid})`, { hint: `stop it first: npx tsx tasks.ts stop ${vm.name}` });
          }
          const overlay = imageRootDisk({ vm: inner });
          // Probe and prepare in one round trip: folder, overlay, empty serial log, and the port check.
          const prepare = [
            `mkdir -p ${shellQuote(inner.dir)} && chmod 700 ${shellQuote(inner.dir)} && rm -f ${shellQuote(inner.pid)}`,
            `[ -e ${shellQuote(overlay)} ] || qemu-img create -q -f qcow2 -b ${GUEST_IMAGE_DIR}/root.qcow2 -F qcow2 ${shellQuote(overlay)}`,
            `: > ${shellQuote(inner.serial)} && chmod 600 ${shellQuote(inner.serial)}`,
            `netstat -ltn 2>/dev/null | grep -q ':${ssh.host} ' && echo port=taken || echo port=free`,
          ].join('\n');
          const probe = await probeParent(parent, prepare);
          const accel = chooseAccel(vm, probe.kvm);
          c.accel = accel.accel;
          c.kvm = probe.kvm;
          if (accel.accel === 'tcg') opts.warn?.(`${vm.name}: no usable KVM inside ${parentVm.name} (${probe.kvm.reason}); TCG inside TCG is slow (~110 s for the tiny guest)`);
          if (vm.memory > probe.memoryMiB) throw new UsageError(`${place.path}.memory: ${vm.memory} MiB is more than ${parentVm.name} has (${probe.memoryMiB} MiB)`);
          // The child image is the one inside the image the parent really runs (a parent keeps
          // the image its root disk came from), not necessarily the newest.
          const parentImage = readState(kitPaths(lab.name, parentVm.name).vm)?.image;
          const img = parentImage?.dir ? { dir: parentImage.dir, hash: parentImage.hash } : await buildNestImage({ quiet: true });
          c.hostKey = childOf(img)?.hostKeyPub ?? '';
          if (!c.hostKey) throw new TaskError(`the nest image ${img.hash} in ${img.dir} does not say which host key its child image has`, { hint: `rebuild the parent's root disk: npx tsx tasks.ts boot ${parentVm.name} --fresh` });
          const keys = labKeys(lab.name);
          pinHostKey(keys.knownHostsPath, hostKeyAlias(lab.name, vm.name), c.hostKey);
          const images = { tiny: { kernel: `${GUEST_IMAGE_DIR}/vmlinuz`, initrd: `${GUEST_IMAGE_DIR}/initrd.img`, initrdDisk: `${GUEST_IMAGE_DIR}/initrd-disk.img` } };
          c.args = qemuArgs(vm, probe.kvm, { home: '/root', vm: inner, images, authorizedKey: keys.publicKey, qmpTcpPort: qmpPort });
          if (probe.portTaken) throw new TaskError(`port ${ssh.host} is taken inside ${parentVm.name}; not starting ${vm.name}`, { hint: 'change the child’s network.sshPort' });
          t.title = `${vm.name}: ${parentVm.name} probed (KVM ${probe.kvm.state}${probe.kvm.state === 'usable' ? `, ${probe.kvm.vendor}` : ''}) → accel ${accel.accel}`;
        },
      },
      {
        title: `${vm.name}: launch QEMU inside ${parentVm.name}`,
        task: async () => {
          c.started = Date.now();
          const cmd = `qemu-system-x86_64 ${c.args.map(shellQuote).join(' ')} 2>${shellQuote(inner.stderr)}; rc=$?; chmod 600 ${shellQuote(inner.stderr)} ${shellQuote(inner.pid)} 2>/dev/null; cat ${shellQuote(inner.pid)} 2>/dev/null; exit $rc`;
          const r = await parent.exec(cmd);
          if (r.code !== 0) {
            const err = await parent.exec(`tail -n 20 ${shellQuote(inner.stderr)}`);
            const why = explainRefusal(err.stdout, c.accel, c.kvm!, vm.name, parentVm.name);
            throw new TaskError(why.message, { command: ['qemu-system-x86_64', ...c.args], exitCode: r.code, stderr: err.stdout, hint: why.hint });
          }
          c.pid = Number(r.stdout.trim()) || 0;
          writeState(hostPaths, {
            lab: lab.name,
            vm: vm.name,
            phase: 'booting',
            pid: c.pid || undefined,
            startedAt: new Date(c.started).toISOString(),
            accel: c.accel,
            argv: ['qemu-system-x86_64', ...c.args],
            forwards,
            ssh: { host: ssh.bind, port: ssh.host, user: vm.ssh.user },
            parent: parentVm.name,
            qmpPort,
          });
        },
      },
      ...stageTasks<Record<string, never>>(vm.name, stages, { started: () => c.started, deadline: () => c.started + budgetMs, watch, metrics: c.metrics }),
    ],
    { quiet: opts.quiet },
  );

  try {
    await list.run({});
  } catch (err) {
    banners.close();
    if (!c.started) throw err;
    const serial = (await parent.exec(`tail -n 20 ${shellQuote(inner.serial)}`).catch(() => ({ stdout: '' }))).stdout;
    if (!opts.keepOnFailure && c.pid) await killIn(parent, c.pid, inner);
    updateState(hostPaths, { phase: 'failed', failure: (err as Error).message, pid: undefined });
    throw new TaskError(`${lab.name}/${vm.name} failed to boot inside ${parentVm.name}: ${(err as Error).message}\n  serial console (last 20 lines):\n${serial.trimEnd().split('\n').map((l) => `    ${l}`).join('\n') || '    (empty)'}`, {
      hint: (err as { hint?: string }).hint,
      cause: err,
    });
  }
  banners.close();
  updateState(hostPaths, { phase: 'running', metrics: c.metrics });
  return { lab: lab.name, vm: vm.name, pid: c.pid, accel: c.accel, forwards, metrics: c.metrics, uname: c.uname };
}

/** Signals a nested QEMU inside its parent, only after checking it is that VM's QEMU. */
async function killIn(parent: Guest, pid: number, inner: VmPaths): Promise<void> {
  for (const sig of ['TERM', 'KILL']) {
    if (!(await pidAlive(parent, pid, inner))) return;
    await parent.exec(`${isOurQemuIn(pid, inner.pid)} && kill -${sig} ${pid}`);
    for (let i = 0; i < 30 && (await pidAlive(parent, pid, inner)); i++) await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops a nested VM: ACPI power-off through QMP, then quit, then signals inside the parent. */
export async function stopNested(lab: LabResolved, place: VmPlace, parent: Guest | undefined, opts: { graceful: boolean; powerdownS?: number }): Promise<'powerdown' | 'quit' | 'killed' | 'already-stopped' | 'parent-down'> {
  const hostPaths = kitPaths(lab.name, place.vm.name).vm;
  const s: VmState | undefined = readState(hostPaths);
  const done = (how: 'powerdown' | 'quit' | 'killed' | 'already-stopped' | 'parent-down') => {
    if (s) updateState(hostPaths, { phase: 'stopped', stoppedAt: new Date().toISOString(), pid: undefined });
    return how;
  };
  if (!parent) return done(s?.phase === 'running' || s?.phase === 'booting' ? 'parent-down' : 'already-stopped');
  const inner = innerPaths(lab.name, place.vm.name);
  const live = await readInner(parent, inner, s?.pid);
  if (!live.alive || !live.pid) return done('already-stopped');
  const pid = live.pid;
  const port = s?.qmpPort ?? qmpPortOf(place);
  const gone = async (ms: number) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (!(await pidAlive(parent, pid, inner))) return true;
      await new Promise((r) => setTimeout(r, 150));
    }
    return false;
  };
  if (opts.graceful && (await qmpIn(parent, port, 'system_powerdown').then(() => true, () => false)) && (await gone((opts.powerdownS ?? 10) * 1000))) return done('powerdown');
  await qmpIn(parent, port, 'quit').catch(() => undefined);
  if (await gone(3000)) return done('quit');
  await killIn(parent, pid, inner);
  return done('killed');
}
