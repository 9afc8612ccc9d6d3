// Live statistics for charts, every source real and read in parallel, each with its own
// timeout: a source that fails becomes `{ok: false, reason}` and the chart still renders.
//   host side  the QEMU process: CPU % from two /proc/PID/stat reads, RSS; QMP status,
//              balloon, block stats, vCPU threads (for a nested VM: read inside its parent)
//   disk       qemu-img info -U: virtual and allocated size of the VM's root disk
//   guest      one SSH command: CPU busy % from two /proc/stat reads, memory, root df,
//              load average, uptime (as Multipass' info does)
//   network    the forwarded port opens, and the SSH round trip
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { LabResolved, VmPlace } from './resolve.ts';
import { findVm, walkVms } from './resolve.ts';
import { kitPaths } from './paths.ts';
import { imageRootDisk } from './qemu-args.ts';
import { imgInfo } from './disk-image.ts';
import { isOurQemu, liveStatus, readState, runningQemuPid, statFields, type VmStatus } from './vm-state.ts';
import { expandPath } from './paths.ts';
import { QmpClient } from './qmp.ts';
import { classifyNested, innerPaths, qmpManyIn, qmpPortOf, readInner } from './nested-status.ts';
import type { Guest } from './guest.ts';
import { shellQuote } from './guest.ts';
import { SessionPool } from './session-pool.ts';

export type Reading<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface HostSide {
  cpuPercent: number; // of one host core: 150 = one and a half cores busy
  rssMiB: number;
  vcpuPercent?: number[];
}
export interface QmpSide {
  status: string;
  balloonMiB?: number;
  readBytes?: number;
  writtenBytes?: number;
}
export interface DiskSide {
  virtualBytes: number;
  allocatedBytes?: number;
}
export interface GuestSide {
  cpuBusyPercent: number;
  memTotalMiB: number;
  memAvailableMiB: number;
  rootTotalMiB: number;
  rootUsedMiB: number;
  load1: number;
  uptimeS: number;
}
export interface NetSide {
  port?: number;
  open: boolean;
  sshRttMs?: number;
}

export interface VmStats {
  lab: string;
  name: string;
  title?: string;
  parent?: string;
  depth: number;
  state: VmStatus['state'];
  accel?: string;
  cpus: number;
  memoryMiB: number;
  host: Reading<HostSide>;
  qmp: Reading<QmpSide>;
  disk: Reading<DiskSide>;
  guest: Reading<GuestSide>;
  network: Reading<NetSide>;
}

export const SAMPLE_MS = 500;
const TIMEOUT_MS = { host: 3000, qmp: 3000, disk: 4000, guest: 4000, network: 3000 };

async function reading<T>(what: string, ms: number, f: () => Promise<T>): Promise<Reading<T>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const value = await Promise.race([f(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms / 1000} s`)), ms)))]);
    return { ok: true, value };
  } catch (err) {
    return { ok: false, reason: (err as Error).message.split('\n')[0]! };
  } finally {
    clearTimeout(timer);
  }
}

const notRunning = <T>(state: string): Reading<T> => ({ ok: false, reason: `VM is ${state}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** utime + stime in clock ticks from a /proc/PID/stat line. */
export function cpuTicks(stat: string): number {
  const f = statFields(stat);
  return Number(f[11]) + Number(f[12]);
}

/** Guest CPU busy % from two `cpu ` lines of /proc/stat. */
export function busyPercent(a: string, b: string): number {
  const nums = (l: string) => l.trim().split(/\s+/).slice(1).map(Number);
  const [x, y] = [nums(a), nums(b)];
  const idle = (v: number[]) => (v[3] ?? 0) + (v[4] ?? 0);
  const total = (v: number[]) => v.slice(0, 8).reduce((s, n) => s + n, 0);
  const dt = total(y) - total(x);
  return dt > 0 ? Math.round((1000 * (dt - (idle(y) - idle(x)))) / dt) / 10 : 0;
}

/** The guest's side, in one command: two /proc/stat reads `sampleMs` apart (or only the
 * second, when the window starts at a remembered earlier one), then the rest; every line is tagged
 * so parsing never guesses which command printed it.  POSIX shell builtins (`read`, `case`)
 * rather than grep and cat: under TCG each fork costs milliseconds. */
export const guestScript = (sampleMs = SAMPLE_MS, readStart = true) =>
  [
    ...(readStart ? ['read -r c0 < /proc/stat', 'echo "cpu0: $c0"'] : []),
    ...(sampleMs > 0 ? [`sleep ${sampleMs / 1000}`] : []),
    'read -r c1 < /proc/stat',
    'echo "cpu1: $c1"',
    'm=; while read -r k v u; do case $k in MemTotal:|MemAvailable:) m="$m$k $v $u ";; esac; done < /proc/meminfo; echo "mem: $m"',
    'df -Pk / | { read -r h; read -r d; echo "df: $d"; }',
    'read -r l < /proc/loadavg; echo "load: $l"',
    'read -r u < /proc/uptime; echo "uptime: $u"',
  ].join('; ');

const tagOf = (out: string, t: string) => out.split('\n').find((l) => l.startsWith(`${t}: `))?.slice(t.length + 2).trim();

/** `priorCpu`: the `cpu` line of an earlier sample, the window's start when the script read only once. */
export function parseGuest(out: string, priorCpu?: string): GuestSide {
  const tag = (t: string) => tagOf(out, t);
  const [cpu1, mem, df, load, up] = ['cpu1', 'mem', 'df', 'load', 'uptime'].map(tag);
  const cpu0 = tag('cpu0') ?? priorCpu;
  if (!cpu0 || !cpu1 || !mem || !df || !load || !up) throw new Error(`unexpected guest output: ${out.slice(0, 80)}`);
  const memKiB = (k: string) => Number(new RegExp(`${k}: (\\d+)`).exec(mem)?.[1] ?? NaN);
  // df: FILESYSTEM 1K-BLOCKS USED AVAILABLE USE% MOUNTPOINT
  const d = df.split(/\s+/);
  return {
    cpuBusyPercent: busyPercent(cpu0, cpu1),
    memTotalMiB: Math.round(memKiB('MemTotal') / 1024),
    memAvailableMiB: Math.round(memKiB('MemAvailable') / 1024),
    rootTotalMiB: Math.round(Number(d[1]) / 1024),
    rootUsedMiB: Math.round(Number(d[2]) / 1024),
    load1: Number(load.split(' ')[0]),
    uptimeS: Number(up.split(' ')[0]),
  };
}

type HostReading = { at: number; pid: number; ticks: number; vcpu: Record<number, number> };

/** A local QEMU's CPU ticks now, and those of the given threads. */
function hostReading(pid: number, threads: number[]): HostReading {
  const ticks = (file: string) => cpuTicks(readFileSync(file, 'utf8'));
  return { at: Date.now(), pid, ticks: ticks(`/proc/${pid}/stat`), vcpu: Object.fromEntries(threads.map((t) => [t, ticks(`/proc/${pid}/task/${t}/stat`)])) };
}

/** Host side of a VM on this host: /proc of its QEMU (and of each vCPU thread), twice, `sampleMs` apart (or since a remembered reading). */
async function hostSideLocal(pid: number, vcpuThreads: () => Promise<number[]>, sampling: Sampling, key: string): Promise<HostSide> {
  const threads = await vcpuThreads().catch(() => [] as number[]);
  const remembered = sampling.memo?.prior<HostReading>(key, sampling.sampleMs);
  const prior = remembered && remembered.value.pid === pid && threads.every((t) => t in remembered.value.vcpu) ? remembered : undefined;
  const start = prior?.value ?? hostReading(pid, threads);
  await sleep(prior ? prior.waitMs : sampling.sampleMs);
  const end = hostReading(pid, threads);
  sampling.memo?.keep(key, end);
  const secs = (end.at - start.at) / 1000;
  const pct = (d: number) => Math.round((d / 100 / secs) * 1000) / 10;
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  return { cpuPercent: pct(end.ticks - start.ticks), rssMiB: Math.round(rss), vcpuPercent: threads.map((t) => pct(end.vcpu[t]! - start.vcpu[t]!)) };
}

type Blockstats = Array<{ stats: { rd_bytes: number; wr_bytes: number } }>;

async function qmpSide(run: <T>(cmd: string) => Promise<T>): Promise<QmpSide> {
  const status = await run<{ status: string }>('query-status');
  const balloon = await run<{ actual: number }>('query-balloon').catch(() => undefined);
  const blocks = await run<Blockstats>('query-blockstats').catch(() => []);
  return qmpFigures(status, balloon, blocks);
}

function qmpFigures(status: { status: string }, balloon: { actual: number } | undefined, blocks: Blockstats): QmpSide {
  return {
    status: status.status,
    balloonMiB: balloon ? Math.round(balloon.actual / 2 ** 20) : undefined,
    readBytes: blocks.reduce((s, b) => s + b.stats.rd_bytes, 0),
    writtenBytes: blocks.reduce((s, b) => s + b.stats.wr_bytes, 0),
  };
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/**
 * The last readings per VM, kept by a caller that samples again and again (watch, the stats
 * agent): the next CPU window then starts at that reading, as top's does, and only what is
 * missing of the window is slept (often nothing).  A reading older than `maxAgeMs` is not
 * used: that sample takes a fresh window of its own.
 */
export class SampleMemo {
  private readings = new Map<string, { at: number; value: unknown }>();
  constructor(readonly maxAgeMs = 10_000) {}

  /** The remembered reading and how much of a `windowMs` window is still to wait. */
  prior<T>(key: string, windowMs: number): { value: T; waitMs: number } | undefined {
    const r = this.readings.get(key);
    const age = r ? Date.now() - r.at : Infinity;
    return r && age <= this.maxAgeMs ? { value: r.value as T, waitMs: Math.max(0, windowMs - age) } : undefined;
  }

  keep(key: string, value: unknown): void {
    this.readings.set(key, { at: Date.now(), value });
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
  const sessions = opts.pool ?? new SessionPool();
  const sampling = { sampleMs: opts.sampleMs ?? SAMPLE_MS, memo: opts.memo };
  try {
    return await Promise.all(places.map((p) => vmStats(lab, p, sessions, sampling)));
  } finally {
    if (!opts.pool) sessions.closeAll();
  }
}

type Base = Omit<VmStats, 'state' | 'host' | 'qmp' | 'disk' | 'guest' | 'network'>;

async function vmStats(lab: LabResolved, place: VmPlace, pool: SessionPool, sampling: Sampling): Promise<VmStats> {
  const vm = place.vm;
  const paths = kitPaths(lab.name, vm.name).vm;
  const state = readState(paths);
  const base: Base = { lab: lab.name, name: vm.name, title: vm.title, parent: place.parent?.name, depth: place.depth, accel: state?.accel, cpus: vm.cpus, memoryMiB: vm.memory };
  const stats = place.depth === 1 ? await localStats(lab, place, base, pool, sampling) : await nestedStats(lab, place, base, pool, sampling);
  // A pooled session that failed a command is replaced next time.
  if (!stats.guest.ok) pool.drop(vm.name, stats.guest.reason);
  return stats;
}

const notRunningStats = (base: Base, state: VmStats['state']): VmStats => {
  const no = notRunning<never>(state);
  return { ...base, state, host: no, qmp: no, disk: no, guest: no, network: no };
};

/** The guest's own figures and the SSH round trip, over its pooled session. */
function guestSide(key: string, session: Promise<Reading<Guest>>, sampling: Sampling, openWithout: () => Promise<boolean>, port?: number): [Promise<Reading<GuestSide>>, Promise<Reading<NetSide>>] {
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

/** A VM on this host: /proc and QMP here, qemu-img here, the guest over SSH. */
async function localStats(lab: LabResolved, place: VmPlace, base: Base, pool: SessionPool, sampling: Sampling): Promise<VmStats> {
  const vm = place.vm;
  const kp = kitPaths(lab.name, vm.name);
  const status = await liveStatus(kp.vm, { lab: lab.name, name: vm.name, depth: 1 });
  if (status.state !== 'running') return notRunningStats(base, status.state);
  const pid = status.pid!;
  const ssh = readState(kp.vm)?.ssh;
  const session = reading('SSH', TIMEOUT_MS.guest, () => pool.get(lab, place, TIMEOUT_MS.guest + 500));
  const [guest, network] = guestSide(vm.name, session, sampling, () => (ssh ? portOpen(ssh.host, ssh.port) : Promise.resolve(false)), ssh?.port);
  // One QMP connection for the vCPU threads and the QMP figures: QEMU's monitor serves one client at a time.
  const monitor = QmpClient.connect(kp.vm.qmp, 1500);
  monitor.catch(() => undefined);
  const [host, qmp, disk] = await Promise.all([
    reading('host /proc', TIMEOUT_MS.host, () => {
      if (!isOurQemu(pid, kp.vm)) throw new Error('QEMU is gone');
      return hostSideLocal(pid, async () => (await (await monitor).execute<Array<{ 'thread-id': number }>>('query-cpus-fast')).map((v) => v['thread-id']), sampling, `${vm.name}/host`);
    }),
    reading('QMP', TIMEOUT_MS.qmp, async () => qmpSide(async (cmd) => (await monitor).execute(cmd))),
    reading('qemu-img', TIMEOUT_MS.disk, async () => {
      const file = typeof vm.boot === 'object' && 'image' in vm.boot ? imageRootDisk(kp) : vm.disk ? expandPath(vm.disk.file, kp) : undefined;
      if (!file) throw new Error('no disk');
      const i = await imgInfo(file);
      return { virtualBytes: i['virtual-size'], allocatedBytes: i['actual-size'] };
    }),
  ]).finally(() => monitor.then((c) => c.close(), () => undefined));
  return { ...base, state: status.state, host, qmp, disk, guest: await guest, network: await network };
}

/**
 * A VM inside its parent: one exec there reads the QEMU's liveness, two /proc samples, RSS
 * and the disk (not qemu-img: starting it under the parent's TCG would skew the parent's own
 * CPU sample; a qcow2 header holds the virtual size, 8 bytes big-endian at offset 24), one
 * QMP connection asks three questions, and the guest answers over its own session — all at once.
 */
async function nestedStats(lab: LabResolved, place: VmPlace, base: Base, pool: SessionPool, sampling: Sampling): Promise<VmStats> {
  const vm = place.vm;
  const state = readState(kitPaths(lab.name, vm.name).vm);
  const parentSession = await reading('SSH', TIMEOUT_MS.guest, () => pool.get(lab, findVm(lab, place.parent!.name)!, TIMEOUT_MS.guest + 500));
  if (!parentSession.ok) return notRunningStats(base, classifyNested(lab, place, state, undefined, undefined).state);
  const parent = parentSession.value;
  const claimed = state?.phase === 'running' || state?.phase === 'booting';
  const session = claimed ? reading('SSH', TIMEOUT_MS.guest, () => pool.get(lab, place, TIMEOUT_MS.guest + 500)) : Promise.resolve(notRunning<Guest>(state?.phase ?? 'stopped'));
  const [guest, network] = guestSide(vm.name, session, sampling, async () => (await session).ok, state?.ssh?.port);
  // The QEMU's ticks in the parent, over the parent's uptime: from a remembered reading, or a fresh window.
  type InnerPrior = { pid: number; uptime: number; stat: string };
  const prior = sampling.memo?.prior<InnerPrior>(`${vm.name}/host`, sampling.sampleMs);
  const waitMs = prior ? prior.waitMs : sampling.sampleMs;
  const file = shellQuote(`${innerPaths(lab.name, vm.name).dir}/root.qcow2`);
  // Runs after readInner's first /proc read; `printf KEY=` before a command keeps its output on the key's line.
  const sample = [
    `    ${waitMs > 0 ? `sleep ${waitMs / 1000}; ` : ''}read -r s < /proc/$pid/stat; read -r up r < /proc/uptime; echo "stat1=$s"; echo "hostuptime1=$up"`,
    `    printf qcow2=; od -An -tx1 -j24 -N8 ${file} 2>/dev/null || echo`,
    `    printf du=; du -k ${file} 2>/dev/null || echo`,
  ].join('\n');
  const [live, answers] = await Promise.all([
    readInner(parent, innerPaths(lab.name, vm.name), state?.pid, sample).catch(() => undefined),
    qmpManyIn<[{ status: string } | undefined, { actual: number } | undefined, Blockstats | undefined]>(parent, state?.qmpPort ?? qmpPortOf(place), ['query-status', 'query-balloon', 'query-blockstats'], TIMEOUT_MS.qmp).catch((err: Error) => err),
  ]);
  const status = classifyNested(lab, place, state, live, answers instanceof Error ? undefined : answers[0]?.status);
  if (status.state !== 'running' || !live) return notRunningStats(base, status.state);
  const kv = live.kv;
  const host = parseFigures('host /proc', () => {
    const end = { stat: kv.stat1!, uptime: Number(kv.hostuptime1) };
    const start = prior?.value ?? { pid: live.pid, stat: live.stat!, uptime: Number(kv.hostuptime) };
    sampling.memo?.keep(`${vm.name}/host`, { pid: live.pid, ...end });
    if (start.pid !== live.pid) throw new Error('QEMU restarted since the last sample');
    const secs = end.uptime - start.uptime;
    if (!(secs > 0)) throw new Error('no time passed between the readings');
    return { cpuPercent: Math.round(((cpuTicks(end.stat) - cpuTicks(start.stat)) / 100 / secs) * 1000) / 10, rssMiB: Math.round((live.rssKiB ?? NaN) / 1024) };
  });
  const qmp: Reading<QmpSide> =
    answers instanceof Error ? { ok: false, reason: answers.message.split('\n')[0]! } : answers[0] ? { ok: true, value: qmpFigures(answers[0], answers[1], answers[2] ?? []) } : { ok: false, reason: 'QMP query-status failed' };
  const disk = parseFigures('disk', () => {
    const hex = (kv.qcow2 ?? '').replace(/\s+/g, '');
    if (!/^[0-9a-f]{16}$/.test(hex)) throw new Error(`no qcow2 header in ${file}`);
    return { virtualBytes: parseInt(hex, 16), allocatedBytes: Number((kv.du ?? '').split(/\s+/)[0]) * 1024 };
  });
  return { ...base, state: status.state, host, qmp, disk, guest: await guest, network: await network };
}

function parseFigures<T>(what: string, f: () => T): Reading<T> {
  try {
    const value = f();
    if (Object.values(value as object).some((v) => typeof v === 'number' && Number.isNaN(v))) throw new Error('unreadable figures');
    return { ok: true, value };
  } catch (err) {
    return { ok: false, reason: `${what}: ${(err as Error).message}` };
  }
}

/**
 * Start-of-window readings for every running VM, kept in `memo` (the stats agent takes them
 * about once a second for a minute after each chart): the next chart then ends a window that
 * is already open instead of sleeping one.  No QMP here (each command takes QEMU's big lock):
 * every thread's ticks are read, the vCPU ones among them.  A VM that cannot be read is skipped.
 */
export async function takeBaselines(lab: LabResolved, pool: SessionPool, memo: SampleMemo): Promise<void> {
  await Promise.all(
    [...walkVms(lab.vms)].map((place) =>
      reading('baseline', TIMEOUT_MS.guest, async () => {
        const name = place.vm.name;
        const paths = kitPaths(lab.name, name).vm;
        const state = readState(paths);
        if (state?.phase !== 'running') return;
        const host = async () => {
          if (place.depth === 1) {
            const pid = runningQemuPid(paths);
            if (!pid) return false;
            memo.keep(`${name}/host`, hostReading(pid, readdirSync(`/proc/${pid}/task`).map(Number)));
            return true;
          }
          const parent = await pool.get(lab, findVm(lab, place.parent!.name)!, TIMEOUT_MS.guest);
          const live = await readInner(parent, innerPaths(lab.name, name), state.pid);
          if (!live.alive || !live.stat) return false;
          memo.keep(`${name}/host`, { pid: live.pid, stat: live.stat, uptime: Number(live.kv.hostuptime) });
          return true;
        };
        if (!(await host())) return;
        const g = await pool.get(lab, place, TIMEOUT_MS.guest);
        const line = tagOf(await g.succeed('read -r c1 < /proc/stat; echo "cpu1: $c1"'), 'cpu1');
        if (line) memo.keep(`${name}/guest`, line);
      }),
    ),
  );
}
