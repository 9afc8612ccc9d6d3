// tasks/stats/: live figures for charts (the lab agent, tasks/agent/, keeps sessions open
// between samples).
//
// Live statistics for charts, every source real and read in parallel, each with its own
// timeout: a source that fails becomes `{ok: false, reason}` and the chart still renders.
// The same for every layer: the machine the QEMU runs on (this host, or its parent) answers.
//   host side  the QEMU process: CPU % from two /proc/PID/stat reads (each vCPU thread's
//              too), RSS; QMP status, balloon, block stats, vCPU thread ids
//   disk       the root disk's qcow2 header and blocks: virtual and allocated size
//   guest      one SSH command: CPU busy % from two /proc/stat reads, memory, root df,
//              load average, uptime (as Multipass' info does)
//   network    the forwarded port opens, and the SSH round trip
// A VM on libvirt takes its host figures (CPU, vCPUs, RSS), balloon and block bytes from
// libvirt's own `domstats` instead, the figures virt-top and the libvirt exporter show;
// QMP still says its status.
import { withTimeout } from '../util/retry.ts';
import { forwardsOf, type LabResolved, type VmPlace } from '../spec/tree.ts';
import { walkVms } from '../spec/tree.ts';
import { expandPath, kitPaths } from '../util/paths.ts';
import { imageRootDisk } from '../qemu/args.ts';
import { readState } from '../machine/record.ts';
import type { Guest } from '../ssh/guest.ts';
import type { SessionPool } from '../vm/session-pool.ts';
import { LabRuntime } from '../vm/runtime.ts';
import { withQmp, type Machine, type ProcReading, type QemuRef } from '../machine/machine.ts';
import { classifyStatus } from '../vm/status.ts';
import {
  type Blockstats,
  type DiskSide,
  type GuestSide,
  type HostSide,
  type NetSide,
  notRunning,
  parseFigures,
  parseGuest,
  qmpFigures,
  cpuTicks,
  type QmpSide,
  type Reading,
  SAMPLE_MS,
  tagOf,
  guestScript,
  type VmStats,
} from './figures.ts';
import type { SampleMemo } from './memo.ts';
import { domainFigures, type DomainFigures, type DomainReading } from '../machine/libvirt/domstats.ts';

const TIMEOUT_MS = { host: 3000, qmp: 3000, disk: 4000, guest: 4000, network: 3000 };

async function reading<T>(what: string, ms: number, f: () => Promise<T>): Promise<Reading<T>> {
  try {
    return { ok: true, value: await withTimeout(f(), ms, what) };
  } catch (err) {
    return { ok: false, reason: (err as Error).message.split('\n')[0]! };
  }
}

export interface StatsOptions {
  /** Sessions to use and keep (watch, the agent); else this call opens and closes its own. */
  pool?: SessionPool;
  /** The CPU window when no remembered reading starts it (default SAMPLE_MS). */
  sampleMs?: number;
  memo?: SampleMemo;
}

interface Sampling {
  sampleMs: number;
  memo?: SampleMemo;
}

/**
 * Every VM of a lab, in parallel; each VM's sources in parallel.  Sessions come from `pool`
 * (watch keeps one between samples), else from a pool of this call's own, so a nested VM's
 * parent is connected to once, not once for itself and again for each child.
 */
export async function collectStats(lab: LabResolved, only?: string[], opts: StatsOptions = {}): Promise<VmStats[]> {
  const places = [...walkVms(lab.vms)].filter((p) => !only || only.includes(p.vm.name));
  const rt = new LabRuntime(lab, { pool: opts.pool, timeoutMs: TIMEOUT_MS.guest + 500 });
  const sampling = { sampleMs: opts.sampleMs ?? SAMPLE_MS, memo: opts.memo };
  try {
    return await Promise.all(places.map((p) => vmStats(lab, p, rt, sampling)));
  } finally {
    rt.close();
  }
}

type Base = Omit<VmStats, 'state' | 'host' | 'qmp' | 'disk' | 'guest' | 'network'>;

/**
 * One VM on its machine, every source at once: a sample there (liveness, two /proc readings
 * of its QEMU with every thread, RSS, the root disk's figures: one exec inside a parent), one
 * QMP connection for four questions, and the guest over its own pooled session.
 */
async function vmStats(lab: LabResolved, place: VmPlace, rt: LabRuntime, sampling: Sampling): Promise<VmStats> {
  const vm = place.vm;
  const record = readState(kitPaths(lab.name, vm.name).vm);
  const boot = vm.boot;
  const diskSizeBytes = vm.disk?.size ?? (typeof boot === 'object' && 'cloudImage' in boot ? boot.size : undefined);
  const base: Base = {
    lab: lab.name,
    name: vm.name,
    title: vm.title,
    parent: place.parent?.name,
    depth: place.depth,
    accel: record?.accel,
    cpus: vm.cpus,
    memoryMiB: vm.memory,
    forwards: forwardsOf(vm),
    ...(diskSizeBytes !== undefined ? { diskSizeBytes } : {}),
    ...(record?.phase === 'suspended' && record.saved?.bytes !== undefined ? { savedBytes: record.saved.bytes } : {}),
  };
  const on = await reading('SSH', TIMEOUT_MS.guest, () => rt.machine(place));
  if (!on.ok)
    return {
      ...notRunningStats(base, classifyStatus(base, { record, where: '', parentState: 'not reachable' }).state),
      disk: { ok: false, reason: `it is inside ${place.parent?.name}, which cannot be reached` },
    };
  const machine = on.value;
  const ref = machine.ref(lab, place, record);
  const claimed = record?.phase === 'running' || record?.phase === 'booting';
  const guestSession = claimed ? reading('SSH', TIMEOUT_MS.guest, () => rt.session(place)) : Promise.resolve(notRunning<Guest>(record?.phase ?? 'stopped'));
  const ssh = record?.ssh;
  const dialOpen = () =>
    ssh
      ? machine.dial(ssh.port, ssh.host).then(
          (s) => {
            s.destroy();
            return true;
          },
          () => false,
        )
      : Promise.resolve(false);
  const [guest, network] = guestSide(vm.name, guestSession, sampling, dialOpen, ssh?.port);
  // The QEMU's CPU window starts at a remembered reading, else at this sample's first one.
  const prior = sampling.memo?.prior<HostMemo>(`${vm.name}/host`, sampling.sampleMs);
  const disk = rootDiskOf(vm, machine, ref);
  // libvirt's figures make their own window; /proc is then read for liveness only.
  const domain =
    claimed && machine.domainStats
      ? reading('libvirt domstats', TIMEOUT_MS.host + sampling.sampleMs, () => domainWindow(machine, ref, vm.name, sampling))
      : undefined;
  const [sample, answers] = await Promise.all([
    machine
      .sample(ref, { fallbackPid: record?.pid, windowMs: domain ? undefined : prior ? prior.waitMs : sampling.sampleMs, disks: disk ? [disk] : [] })
      .catch((err: Error) => err),
    claimed
      ? withQmp(machine, ref, TIMEOUT_MS.qmp, async (c) => {
          const ask = <T>(cmd: string) => c.execute<T>(cmd, undefined, TIMEOUT_MS.qmp).catch(() => undefined);
          // A domain's balloon, disks and vCPUs come from domstats: QMP only says its status.
          if (domain) return [await ask<{ status: string }>('query-status'), undefined, undefined, undefined] as const;
          return [
            await ask<{ status: string }>('query-status'),
            await ask<{ actual: number }>('query-balloon'),
            await ask<Blockstats>('query-blockstats'),
            await ask<Array<{ 'thread-id': number }>>('query-cpus-fast'),
          ] as const;
        }).catch((err: Error) => err)
      : new Error('not running'),
  ]);
  if (sample instanceof Error) return notRunningStats(base, classifyStatus(base, { record, where: '', parentState: 'not reachable' }).state);
  const qmpAnswer = answers instanceof Error ? { error: answers.message } : answers[0] ? { status: answers[0].status } : { error: 'query-status failed' };
  const status = classifyStatus(base, { record, sample, qmp: sample.alive ? qmpAnswer : undefined, where: machine.at.trim() });
  // The disk is read whatever the state: a stopped VM's card shows how much of it is allocated.
  const figures = disk ? sample.disks[disk] : undefined;
  const diskSide: Reading<DiskSide> = !figures
    ? { ok: false, reason: 'no disk' }
    : 'error' in figures
      ? { ok: false, reason: figures.error }
      : { ok: true, value: figures };
  if (status.state !== 'running') return { ...notRunningStats(base, status.state), disk: diskSide };
  if (domain) {
    const d = await domain;
    const qmp: Reading<QmpSide> = !d.ok
      ? d
      : qmpAnswer.status === undefined
        ? { ok: false, reason: qmpAnswer.error ?? 'QMP query-status failed' }
        : { ok: true, value: { status: qmpAnswer.status, balloonMiB: d.value.balloonMiB, readBytes: d.value.readBytes, writtenBytes: d.value.writtenBytes } };
    const host: Reading<HostSide> = d.ok
      ? { ok: true, value: { cpuPercent: d.value.cpuPercent, cpuSeconds: d.value.cpuSeconds, rssMiB: d.value.rssMiB, vcpuPercent: d.value.vcpuPercent } }
      : d;
    return { ...base, figuresFrom: 'libvirt domstats', state: status.state, host, qmp, disk: diskSide, guest: await guest, network: await network };
  }
  const host = parseFigures('host /proc', () => {
    const end = sample.end;
    if (!end || !sample.pid) throw new Error('QEMU is gone');
    const start = prior && prior.value.pid === sample.pid ? prior.value.reading : sample.start;
    sampling.memo?.keep(`${vm.name}/host`, { pid: sample.pid, reading: end } satisfies HostMemo);
    if (!start) throw new Error('QEMU restarted since the last sample');
    const secs = end.uptimeS - start.uptimeS;
    if (!(secs > 0)) throw new Error('no time passed between the readings');
    const pct = (a: string | undefined, b: string | undefined) => (a && b ? Math.round(((cpuTicks(b) - cpuTicks(a)) / 100 / secs) * 1000) / 10 : NaN);
    const threads = answers instanceof Error ? [] : (answers[3] ?? []).map((v) => v['thread-id']);
    return {
      cpuPercent: pct(start.stat, end.stat),
      // utime + stime in the kernel's 100 Hz ticks, as the percentages count them.
      cpuSeconds: cpuTicks(end.stat) / 100,
      rssMiB: Math.round((sample.rssKiB ?? NaN) / 1024),
      vcpuPercent: threads.map((t) => pct(start.tasks[t], end.tasks[t])).filter((v) => !Number.isNaN(v)),
    };
  });
  const qmp: Reading<QmpSide> =
    answers instanceof Error
      ? { ok: false, reason: answers.message.split('\n')[0]! }
      : answers[0]
        ? { ok: true, value: qmpFigures(answers[0], answers[1], answers[2] ?? []) }
        : { ok: false, reason: 'QMP query-status failed' };
  return { ...base, state: status.state, host, qmp, disk: diskSide, guest: await guest, network: await network };
}

/** The QEMU's last /proc reading, kept to start the next CPU window. */
type HostMemo = { pid: number; reading: ProcReading };

type DomainMemo = { at: number; reading: DomainReading };

/** libvirt's figures over a window that starts at a remembered reading, else at one of its own. */
async function domainWindow(machine: Machine, ref: QemuRef, key: string, sampling: Sampling): Promise<DomainFigures> {
  const read = () => machine.domainStats!(ref);
  const prior = sampling.memo?.prior<DomainMemo>(`${key}/domain`, sampling.sampleMs);
  const t0 = performance.now();
  const start = prior?.value ?? (await read());
  // The window runs between the readings' middles: a first read's own time counts in it.
  await new Promise((r) => setTimeout(r, prior ? prior.waitMs : Math.max(0, sampling.sampleMs - (performance.now() - t0))));
  const end = await read();
  sampling.memo?.keep(`${key}/domain`, end satisfies DomainMemo);
  return domainFigures(start.reading, end.reading, (end.at - start.at) / 1000);
}

/** The file that holds the guest's root, as its machine names it. */
function rootDiskOf(vm: VmPlace['vm'], machine: Machine, ref: QemuRef): string | undefined {
  const boot = vm.boot;
  if (typeof boot === 'object' && (('image' in boot && boot.root === 'disk') || 'cloudImage' in boot)) return imageRootDisk({ vm: ref.paths });
  return vm.disk ? expandPath(vm.disk.file, { home: machine.home, vm: ref.paths }) : undefined;
}

const notRunningStats = (base: Base, state: VmStats['state']): VmStats => {
  const no = notRunning<never>(state);
  return { ...base, state, host: no, qmp: no, disk: no, guest: no, network: no };
};

/** The guest's own figures and the SSH round trip, over its pooled session. */
function guestSide(
  key: string,
  session: Promise<Reading<Guest>>,
  sampling: Sampling,
  openWithout: () => Promise<boolean>,
  port?: number,
): [Promise<Reading<GuestSide>>, Promise<Reading<NetSide>>] {
  return [
    reading('guest', TIMEOUT_MS.guest, async () => {
      const s = await session;
      if (!s.ok) throw new Error(s.reason);
      // The guest's own jiffies make the window: a cpu line from an earlier sample needs no clock.
      const prior = sampling.memo?.prior<string>(`${key}/guest`, sampling.sampleMs);
      const out = await s.value.succeed(prior ? guestScript(prior.waitMs, false) : guestScript(sampling.sampleMs));
      const g = parseGuest(out, prior?.value);
      sampling.memo?.keep(`${key}/guest`, tagOf(out, 'cpu1'));
      return g;
    }),
    reading('network', TIMEOUT_MS.network, async () => {
      const s = await session;
      if (!s.ok) return { port, open: await openWithout(), sshRttMs: undefined };
      const t0 = process.hrtime.bigint();
      await s.value.exec(':');
      return { port, open: true, sshRttMs: Math.round(Number(process.hrtime.bigint() - t0) / 1e5) / 10 };
    }),
  ];
}

/**
 * Start-of-window readings for every running VM, kept in `memo` (the lab agent takes them
 * about once a second for a minute after each chart): the next chart then ends a window that
 * is already open instead of sleeping one.  No QMP here (each command takes QEMU's big lock):
 * every thread's ticks are read, the vCPU ones among them.  A VM that cannot be read is skipped.
 */
export async function takeBaselines(lab: LabResolved, pool: SessionPool, memo: SampleMemo): Promise<void> {
  const rt = new LabRuntime(lab, { pool, timeoutMs: TIMEOUT_MS.guest });
  await Promise.all(
    [...walkVms(lab.vms)].map((place) =>
      reading('baseline', TIMEOUT_MS.guest, async () => {
        const name = place.vm.name;
        const record = readState(kitPaths(lab.name, name).vm);
        if (record?.phase !== 'running') return;
        const machine = await rt.machine(place);
        const ref = machine.ref(lab, place, record);
        if (machine.domainStats) memo.keep(`${name}/domain`, (await machine.domainStats(ref)) satisfies DomainMemo);
        else {
          const s = await machine.sample(ref, { fallbackPid: record.pid, windowMs: 0 });
          if (!s.alive || !s.end || !s.pid) return;
          memo.keep(`${name}/host`, { pid: s.pid, reading: s.end } satisfies HostMemo);
        }
        const g = await rt.session(place);
        const line = tagOf(await g.succeed('read -r c1 < /proc/stat; echo "cpu1: $c1"'), 'cpu1');
        if (line) memo.keep(`${name}/guest`, line);
      }),
    ),
  );
}
