// A QEMU process of this host as /proc shows it: its pidfile, its stat fields, whether it is
// a QEMU started with this VM's pidfile (a pid is trusted only then: we never signal anything
// else), and how long it has run.
import { readFileSync } from 'node:fs';
import type { VmPaths } from '../util/paths.ts';

export function readPidfile(p: VmPaths): number | undefined {
  try {
    const n = Number(readFileSync(p.pid, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The fields of a /proc/PID/stat line after the command name (which may hold spaces and
 * parentheses): [0] is field 3, the state; [11], [12] utime and stime; [19] starttime.
 */
export function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** True only when `pid` is a live QEMU whose command line names this VM's pidfile. */
export function isOurQemu(pid: number, p: VmPaths): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const state = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[0];
    return state !== 'Z' && /qemu-system/.test(argv[0] ?? '') && argv.includes(p.pid);
  } catch {
    return false;
  }
}

/** The pid of this VM's QEMU when its pidfile names one that runs. */
export function runningQemuPid(p: VmPaths): number | undefined {
  const pid = readPidfile(p);
  return pid && isOurQemu(pid, p) ? pid : undefined;
}

/** Seconds the process has run, from /proc (clock ticks since boot). */
export function processUptimeS(pid: number): number | undefined {
  try {
    const startTicks = Number(statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[19]);
    const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    return Math.max(0, uptime - startTicks / 100);
  } catch {
    return undefined;
  }
}
