// The figures a chart shows of one VM, as data (each source a Reading that may have failed
// with its reason), and the pure parsers that make them from what a machine, QMP and the guest
// print: CPU ticks and busy %, the guest's one-command script and its tagged lines.
import { statFields } from '../qemu/process.ts';
import type { Forward } from '../spec/tree.ts';
import type { VmStatus } from '../vm/status.ts';

/** The CPU window when no remembered reading starts it. */
export const SAMPLE_MS = 500;

export type Reading<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface HostSide {
  cpuPercent: number; // of one host core: 150 = one and a half cores busy
  /** The QEMU process's CPU time since it started, in seconds (a counter, for /metrics). */
  cpuSeconds?: number;
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
  /** Bytes received and sent over every interface but loopback since the guest booted. */
  netRxBytes?: number;
  netTxBytes?: number;
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
  /** Where the host figures, balloon and block bytes come from when not the QEMU's /proc and QMP. */
  figuresFrom?: 'libvirt domstats';
  cpus: number;
  memoryMiB: number;
  /** What the spec gives it, shown even when it is not running: its forwards and its disk's size. */
  forwards: Forward[];
  diskSizeBytes?: number;
  /** A suspended top-level VM: what its saved state takes on disk. */
  savedBytes?: number;
  host: Reading<HostSide>;
  qmp: Reading<QmpSide>;
  disk: Reading<DiskSide>;
  guest: Reading<GuestSide>;
  network: Reading<NetSide>;
}

export const notRunning = <T>(state: string): Reading<T> => ({ ok: false, reason: `VM is ${state}` });

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
    // Bytes through every interface but loopback since boot; "eth0:123" may have no space after the colon.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: sh's ${l#*:}, not a template
    'rx=0; tx=0; while read -r l; do case $l in lo:*|Inter-*|face*) ;; *:*) set -- ${l#*:}; rx=$((rx+$1)); tx=$((tx+$9));; esac; done < /proc/net/dev; echo "net: $rx $tx"',
  ].join('; ');

export const tagOf = (out: string, t: string) =>
  out
    .split('\n')
    .find((l) => l.startsWith(`${t}: `))
    ?.slice(t.length + 2)
    .trim();

/** `priorCpu`: the `cpu` line of an earlier sample, the window's start when the script read only once. */
export function parseGuest(out: string, priorCpu?: string): GuestSide {
  const tag = (t: string) => tagOf(out, t);
  const [cpu1, mem, df, load, up] = ['cpu1', 'mem', 'df', 'load', 'uptime'].map(tag);
  const cpu0 = tag('cpu0') ?? priorCpu;
  if (!cpu0 || !cpu1 || !mem || !df || !load || !up) throw new Error(`unexpected guest output: ${out.slice(0, 80)}`);
  const memKiB = (k: string) => Number(new RegExp(`${k}: (\\d+)`).exec(mem)?.[1] ?? NaN);
  // df: FILESYSTEM 1K-BLOCKS USED AVAILABLE USE% MOUNTPOINT
  const d = df.split(/\s+/);
  const net = tag('net')?.split(' ').map(Number);
  return {
    cpuBusyPercent: busyPercent(cpu0, cpu1),
    memTotalMiB: Math.round(memKiB('MemTotal') / 1024),
    memAvailableMiB: Math.round(memKiB('MemAvailable') / 1024),
    rootTotalMiB: Math.round(Number(d[1]) / 1024),
    rootUsedMiB: Math.round(Number(d[2]) / 1024),
    load1: Number(load.split(' ')[0]),
    uptimeS: Number(up.split(' ')[0]),
    ...(net && net.length === 2 && net.every(Number.isFinite) ? { netRxBytes: net[0], netTxBytes: net[1] } : {}),
  };
}

export type Blockstats = Array<{ stats: { rd_bytes: number; wr_bytes: number } }>;

export function qmpFigures(status: { status: string }, balloon: { actual: number } | undefined, blocks: Blockstats): QmpSide {
  return {
    status: status.status,
    balloonMiB: balloon ? Math.round(balloon.actual / 2 ** 20) : undefined,
    readBytes: blocks.reduce((s, b) => s + b.stats.rd_bytes, 0),
    writtenBytes: blocks.reduce((s, b) => s + b.stats.wr_bytes, 0),
  };
}

export function parseFigures<T>(what: string, f: () => T): Reading<T> {
  try {
    const value = f();
    if (Object.values(value as object).some((v) => typeof v === 'number' && Number.isNaN(v))) throw new Error('unreadable figures');
    return { ok: true, value };
  } catch (err) {
    return { ok: false, reason: `${what}: ${(err as Error).message}` };
  }
}
