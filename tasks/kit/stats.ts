// Live statistics for charts, every source real and read in parallel, each with its own
// timeout: a source that fails becomes `{ok: false, reason}` and the chart still renders.
//   host side  the QEMU process: CPU % from two /proc/PID/stat reads, RSS; QMP status,
//              balloon, block stats, vCPU threads (for a nested VM: read inside its parent)
//   disk       qemu-img info -U: virtual and allocated size of the VM's root disk
//   guest      one SSH command: CPU busy % from two /proc/stat reads, memory, root df,
//              load average, uptime (as Multipass' info does)
//   network    the forwarded port opens, and the SSH round trip
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { LabResolved, VmPlace } from './resolve.ts';
import { findVm, walkVms } from './resolve.ts';
import { kitPaths } from './paths.ts';
import { imageRootDisk } from './qemu-args.ts';
import { imgInfo } from './disk-image.ts';
import { isOurQemu, liveStatus, readState, type VmStatus } from './vm-state.ts';
import { expandPath } from './paths.ts';
import { QmpClient } from './qmp.ts';
import { connectPlace } from './target.ts';
import { innerPaths, nestedStatus, qmpIn } from './nested.ts';
import type { Guest } from './guest.ts';
import { shellQuote } from './guest.ts';
import type { SessionPool } from './session-pool.ts';

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
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
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

/** The guest's side, in one command: two /proc/stat reads half a second apart, then the
 * rest; every line is tagged so parsing never guesses which command printed it. */
export const GUEST_SCRIPT = [
  "echo \"cpu0: $(grep '^cpu ' /proc/stat)\"",
  `sleep ${SAMPLE_MS / 1000}`,
  "echo \"cpu1: $(grep '^cpu ' /proc/stat)\"",
  'echo "mem: $(grep -E \'^(MemTotal|MemAvailable):\' /proc/meminfo | tr -s \' \' | tr \'\\n\' \' \')"',
  'echo "df: $(df -k / | tail -1)"',
  'echo "load: $(cat /proc/loadavg)"',
  'echo "uptime: $(cat /proc/uptime)"',
].join('; ');

export function parseGuest(out: string): GuestSide {
  const tag = (t: string) => out.split('\n').find((l) => l.startsWith(`${t}: `))?.slice(t.length + 2).trim();
  const [cpu0, cpu1, mem, df, load, up] = ['cpu0', 'cpu1', 'mem', 'df', 'load', 'uptime'].map(tag);
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

/** Host side of a VM on this host: /proc of its QEMU, twice, SAMPLE_MS apart. */
async function hostSideLocal(pid: number, qmpPath: string): Promise<HostSide> {
  const ticks = () => cpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const threads = await QmpClient.connect(qmpPath, 1500)
    .then(async (c) => {
      try {
        return (await c.execute<Array<{ 'thread-id': number }>>('query-cpus-fast')).map((v) => v['thread-id']);
      } finally {
        c.close();
      }
    })
    .catch(() => [] as number[]);
  const tticks = (tid: number) => cpuTicks(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
  const t0 = ticks();
  const v0 = threads.map(tticks);
  const start = Date.now();
  await sleep(SAMPLE_MS);
  const secs = (Date.now() - start) / 1000;
  const pct = (d: number) => Math.round((d / 100 / secs) * 1000) / 10;
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  return { cpuPercent: pct(ticks() - t0), rssMiB: Math.round(rss), vcpuPercent: threads.map((tid, i) => pct(tticks(tid) - v0[i]!)) };
}

/** The same, read inside the parent for a nested VM's QEMU. */
async function hostSideIn(parent: Guest, pid: number): Promise<HostSide> {
  const out = await parent.succeed(`cat /proc/${pid}/stat; sleep ${SAMPLE_MS / 1000}; cat /proc/${pid}/stat; grep VmRSS /proc/${pid}/status`);
  const [a, b, rss] = out.trim().split('\n');
  return { cpuPercent: Math.round(((cpuTicks(b!) - cpuTicks(a!)) / 100 / (SAMPLE_MS / 1000)) * 1000) / 10, rssMiB: Math.round(Number(/\d+/.exec(rss ?? '')?.[0] ?? 0) / 1024) };
}

async function qmpSide(run: <T>(cmd: string) => Promise<T>): Promise<QmpSide> {
  const status = await run<{ status: string }>('query-status');
  const balloon = await run<{ actual: number }>('query-balloon').catch(() => undefined);
  const blocks = await run<Array<{ stats: { rd_bytes: number; wr_bytes: number } }>>('query-blockstats').catch(() => []);
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

/** Every VM of a lab, in parallel; each VM's sources in parallel. */
export async function collectStats(lab: LabResolved, only?: string[], pool?: SessionPool): Promise<VmStats[]> {
  const places = [...walkVms(lab.vms)].filter((p) => !only || only.includes(p.vm.name));
  return Promise.all(places.map((p) => vmStats(lab, p, pool)));
}

async function vmStats(lab: LabResolved, place: VmPlace, pool?: SessionPool): Promise<VmStats> {
  const vm = place.vm;
  const paths = kitPaths(lab.name, vm.name).vm;
  const state = readState(paths);
  const base = { lab: lab.name, name: vm.name, title: vm.title, parent: place.parent?.name, depth: place.depth, accel: state?.accel, cpus: vm.cpus, memoryMiB: vm.memory };
  // One SSH session per VM (through its parents for a nested one), shared by its sources.
  const session = await reading('SSH', TIMEOUT_MS.guest, () => (pool ? pool.get(lab, place, TIMEOUT_MS.guest + 500) : connectPlace(lab, place, TIMEOUT_MS.guest + 500)));
  // A nested VM's host-side figures come from its parent: through the child's own session
  // when it has one, else through a session of its own (closed below).
  const ownParent = !session.ok && place.depth > 1 ? await connectParentOrNone(lab, place) : undefined;
  try {
    const parent = session.ok ? session.value.parent : ownParent;
    const status = place.depth === 1 ? await liveStatus(paths, { lab: lab.name, name: vm.name, depth: 1 }) : await nestedStatus(lab, place, parent, undefined);
    if (status.state !== 'running') {
      const no = notRunning<never>(status.state);
      return { ...base, state: status.state, host: no, qmp: no, disk: no, guest: no, network: no };
    }
    const pid = status.pid!;
    const ssh = state?.ssh;
    const inner = innerPaths(lab.name, vm.name);
    const [host, qmp, disk, guest, network] = await Promise.all([
      reading('host /proc', TIMEOUT_MS.host, () => {
        if (place.depth === 1) {
          if (!isOurQemu(pid, paths)) throw new Error('QEMU is gone');
          return hostSideLocal(pid, paths.qmp);
        }
        if (!parent) throw new Error(`cannot reach ${place.parent!.name}`);
        return hostSideIn(parent, pid);
      }),
      reading('QMP', TIMEOUT_MS.qmp, async () => {
        if (place.depth === 1) {
          const c = await QmpClient.connect(paths.qmp, 1500);
          try {
            return await qmpSide((cmd) => c.execute(cmd));
          } finally {
            c.close();
          }
        }
        if (!parent) throw new Error(`cannot reach ${place.parent!.name}`);
        return qmpSide((cmd) => qmpIn(parent, state?.qmpPort ?? 14000, cmd));
      }),
      reading('qemu-img', TIMEOUT_MS.disk, async () => {
        if (place.depth === 1) {
          const kp = kitPaths(lab.name, vm.name);
          const file = typeof vm.boot === 'object' && 'image' in vm.boot ? imageRootDisk(kp) : vm.disk ? expandPath(vm.disk.file, kp) : undefined;
          if (!file) throw new Error('no disk');
          const i = await imgInfo(file);
          return { virtualBytes: i['virtual-size'], allocatedBytes: i['actual-size'] };
        }
        if (!parent) throw new Error(`cannot reach ${place.parent!.name}`);
        // Not qemu-img: starting it under the parent's TCG would skew the parent's own CPU
        // sample.  A qcow2 header holds the virtual size (8 bytes, big-endian, at offset 24).
        const file = shellQuote(`${inner.dir}/root.qcow2`);
        const out = await parent.succeed(`od -An -tx1 -j24 -N8 ${file}; du -k ${file}`);
        const [hex = '', du = ''] = out.trim().split('\n');
        return { virtualBytes: parseInt(hex.replace(/\s+/g, ''), 16), allocatedBytes: Number(du.split(/\s+/)[0]) * 1024 };
      }),
      reading('guest', TIMEOUT_MS.guest, async () => {
        if (!session.ok) throw new Error(session.reason);
        return parseGuest(await session.value.succeed(GUEST_SCRIPT));
      }),
      reading('network', TIMEOUT_MS.network, async () => {
        const open = place.depth === 1 && ssh ? await portOpen(ssh.host, ssh.port) : session.ok;
        if (!session.ok) return { port: ssh?.port, open, sshRttMs: undefined };
        const t0 = process.hrtime.bigint();
        await session.value.exec(':');
        return { port: ssh?.port, open, sshRttMs: Math.round(Number(process.hrtime.bigint() - t0) / 1e5) / 10 };
      }),
    ]);
    // A pooled session that failed a command is replaced next time.
    if (pool && !guest.ok) pool.drop(vm.name);
    return { ...base, state: status.state, host, qmp, disk, guest, network };
  } finally {
    if (session.ok && !pool) session.value.close();
    if (!session.ok) pool?.drop(vm.name);
    ownParent?.close();
  }
}

async function connectParentOrNone(lab: LabResolved, place: VmPlace): Promise<Guest | undefined> {
  return connectPlace(lab, findVm(lab, place.parent!.name)!).catch(() => undefined);
}

