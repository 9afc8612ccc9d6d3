// A nested VM's live state, read inside its running parent: the light half of nested.ts,
// kept apart so `status`, `chart-vm` and SSH connections load no boot code (listr2, image
// building).  One exec in the parent answers pid, liveness and uptime together, because
// every exec costs a fork under the parent's TCG.
import type { LabResolved, VmPlace } from './resolve.ts';
import { QmpClient } from './qmp.ts';
import { type Guest, shellQuote } from './guest.ts';
import { labKeys } from './keys.ts';
import { kitPaths, type VmPaths } from './paths.ts';
import { DEAD_QMP, readState, statFields, type VmState, type VmStatus } from './vm-state.ts';

/** Where nested VMs keep their runtime files inside their parent. */
export const GUEST_STATE_DIR = '/var/lib/grainchart/vms';

/** Where a nested VM's runtime files live inside its parent. */
export function innerPaths(lab: string, vm: string): VmPaths {
  const dir = `${GUEST_STATE_DIR}/${lab}/${vm}`;
  return { dir, qmp: `${dir}/qmp.sock`, pid: `${dir}/qemu.pid`, serial: `${dir}/serial.log`, stderr: `${dir}/qemu.stderr` };
}

/** QMP listens on the parent's loopback: 14000 + the child's index among its siblings. */
export const qmpPortOf = (place: VmPlace) => 14000 + place.parent!.children.indexOf(place.vm);

/** Shell test, run in the parent: is `pid` (a number, or a shell variable) a live QEMU started with this pidfile? */
export const isOurQemuIn = (pid: number | string, pidfile: string) =>
  `[ -d /proc/${pid} ] && tr '\\0' '\\n' < /proc/${pid}/cmdline | grep -qx ${shellQuote(pidfile)} && ! grep -q '^State:.*Z' /proc/${pid}/status`;

export async function pidAlive(parent: Guest, pid: number | undefined, inner: VmPaths): Promise<boolean> {
  if (!pid) return false;
  return (await parent.exec(isOurQemuIn(pid, inner.pid))).code === 0;
}

export async function qmpIn<T>(parent: Guest, port: number, command: string, args?: Record<string, unknown>, timeoutMs = 2000): Promise<T> {
  return (await qmpManyIn<[T]>(parent, port, [command], timeoutMs, args))[0];
}

/** Several QMP commands over one connection (one tunnel, one greeting); a failed one is undefined. */
export async function qmpManyIn<T extends unknown[]>(parent: Guest, port: number, commands: string[], timeoutMs = 2000, args?: Record<string, unknown>): Promise<T> {
  const c = await QmpClient.over(await parent.forwardOut(port), `127.0.0.1:${port} in ${parent.target.name}`, timeoutMs);
  try {
    if (commands.length === 1) return [await c.execute(commands[0]!, args, timeoutMs)] as T;
    const out: unknown[] = [];
    for (const cmd of commands) out.push(await c.execute(cmd, undefined, timeoutMs).catch(() => undefined));
    return out as T;
  } finally {
    c.close();
  }
}

export function guestTarget(lab: LabResolved, vm: string, port: number, user: string, hostKey: string) {
  return { name: vm, host: '127.0.0.1', port, user, privateKeyPath: labKeys(lab.name).privateKeyPath, hostKey };
}

export interface InnerLive {
  pid?: number;
  alive: boolean;
  uptimeS?: number;
  /** /proc/PID/stat and VmRSS (KiB) of the live QEMU, read with the liveness check. */
  stat?: string;
  rssKiB?: number;
  /** key=value lines printed by the caller's `then` script (run only when alive, with $pid set). */
  kv: Record<string, string>;
}

/**
 * One exec in the parent: the pidfile (else the recorded pid), whether it is our QEMU (its
 * command line names the pidfile; not a zombie), its /proc stat and RSS, then `then`.
 * Shell builtins (`read`, `case`) wherever they do: each fork costs milliseconds under the
 * parent's TCG, and this runs for every status and every chart.
 */
export async function readInner(parent: Guest, inner: VmPaths, fallbackPid?: number, then = ''): Promise<InnerLive> {
  const script = [
    `{ read -r pid < ${shellQuote(inner.pid)}; } 2>/dev/null`,
    `case "$pid" in ''|*[!0-9]*) pid=${fallbackPid ?? ''};; esac`,
    'echo "pid=$pid"',
    `if [ -n "$pid" ] && [ -d /proc/$pid ] && tr '\\0' '\\n' < /proc/$pid/cmdline | grep -qx ${shellQuote(inner.pid)}; then`,
    '  while read -r k v r; do case $k in State:) st=$v;; VmRSS:) rss=$v;; esac; done < /proc/$pid/status',
    '  if [ "$st" != Z ]; then',
    '    echo alive=1; echo "rss=$rss"',
    '    read -r up r < /proc/uptime; echo "hostuptime=$up"',
    '    read -r s < /proc/$pid/stat; echo "stat=$s"',
    then,
    '  fi',
    'fi',
  ].join('\n');
  const r = await parent.exec(script);
  const kv = Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]),
  );
  const pid = Number(kv.pid);
  const alive = kv.alive === '1';
  return {
    pid: Number.isInteger(pid) && pid > 0 ? pid : undefined,
    alive,
    uptimeS: alive && kv.stat ? processUptime(kv.stat, Number(kv.hostuptime)) : undefined,
    stat: kv.stat,
    rssKiB: kv.rss ? Number(kv.rss) : undefined,
    kv,
  };
}

/** Seconds since a process started: the system's uptime less its start time (field 22 of /proc/PID/stat, in 100 Hz ticks). */
export function processUptime(stat: string, systemUptimeS: number): number | undefined {
  const start = Number(statFields(stat)[19]);
  const up = Math.floor(systemUptimeS) - Math.floor(start / 100);
  return Number.isFinite(up) && up > 0 ? up : undefined;
}

/** The state a nested VM is in, from the host's record, a read inside its parent and QEMU's own word. */
export function classifyNested(lab: LabResolved, place: VmPlace, s: VmState | undefined, live: InnerLive | undefined, qmpStatus: string | undefined, parentState?: VmStatus['state']): VmStatus {
  const base = { lab: lab.name, name: place.vm.name, parent: place.parent?.name, depth: place.depth, accel: s?.accel, forwards: s?.forwards ?? [], metrics: s?.metrics };
  const claimed = s?.phase === 'running' || s?.phase === 'booting';
  if (!live) {
    if (claimed) return { ...base, state: 'crashed', reason: `its parent ${place.parent?.name} is ${parentState ?? 'not running'}` };
    return { ...base, state: 'stopped', reason: s?.phase === 'failed' ? s.failure : undefined };
  }
  const pid = live.pid ?? s?.pid;
  if (live.alive) {
    if (qmpStatus && DEAD_QMP.has(qmpStatus)) return { ...base, state: 'crashed', pid, qmpStatus, reason: `QEMU reports ${qmpStatus}` };
    return { ...base, state: s?.phase === 'booting' ? 'booting' : 'running', pid, qmpStatus, uptimeS: live.uptimeS };
  }
  if (claimed) return { ...base, state: 'crashed', reason: `its QEMU (pid ${pid ?? '?'}) is gone inside ${place.parent?.name}` };
  return { ...base, state: 'stopped', reason: s?.phase === 'failed' ? s.failure : undefined };
}

/** A nested VM's live state, read inside its running parent (no parent: it cannot be running). */
export async function nestedStatus(lab: LabResolved, place: VmPlace, parent: Guest | undefined, parentState?: VmStatus['state']): Promise<VmStatus> {
  const s = readState(kitPaths(lab.name, place.vm.name).vm);
  if (!parent) return classifyNested(lab, place, s, undefined, undefined, parentState);
  const live = await readInner(parent, innerPaths(lab.name, place.vm.name), s?.pid);
  const qmp = live.alive ? await qmpIn<{ status: string }>(parent, s?.qmpPort ?? qmpPortOf(place), 'query-status', undefined, 1500).catch(() => undefined) : undefined;
  return classifyNested(lab, place, s, live, qmp?.status, parentState);
}
