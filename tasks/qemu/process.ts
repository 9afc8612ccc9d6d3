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

/**
 * The one rule for "this pid is this VM's QEMU", wherever the process runs: not a zombie, a
 * qemu-system binary, started with this VM's pidfile.  Read here from this host's /proc; a
 * machine over SSH prints the same two files of its own and asks this too.
 */
export function isQemuOf(argv: string[], stat: string, pidfile: string): boolean {
  return statFields(stat)[0] !== 'Z' && /qemu-system/.test(argv[0] ?? '') && argv.includes(pidfile);
}

/** Seconds a process has run: the system's uptime less its start time (field 22 of its stat, in 100 Hz ticks); undefined for figures that do not add up. */
export function uptimeOf(stat: string, systemUptimeS: number): number | undefined {
  const up = systemUptimeS - Number(statFields(stat)[19]) / 100;
  return Number.isFinite(up) && up >= 0 ? up : undefined;
}

/** True only when `pid` is a live QEMU of this host whose command line names this VM's pidfile. */
export function isOurQemu(pid: number, p: VmPaths): boolean {
  try {
    return isQemuOf(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'), readFileSync(`/proc/${pid}/stat`, 'utf8'), p.pid);
  } catch {
    return false;
  }
}

/** The pid of this VM's QEMU when its pidfile names one that runs. */
export function runningQemuPid(p: VmPaths): number | undefined {
  const pid = readPidfile(p);
  return pid && isOurQemu(pid, p) ? pid : undefined;
}

/** Seconds a process of this host has run. */
export function processUptimeS(pid: number): number | undefined {
  try {
    return uptimeOf(readFileSync(`/proc/${pid}/stat`, 'utf8'), Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]));
  } catch {
    return undefined;
  }
}
