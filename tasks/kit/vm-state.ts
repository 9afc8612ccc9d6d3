// A VM's record on this host (state.json: what the kit did to it) and the /proc checks for
// a QEMU of this host.  A pid is only trusted when /proc says that process is a QEMU
// started with this VM's pidfile: we never signal anything else.  What is true right now,
// at any layer, is vm-status.ts's to say.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { VmPaths } from './paths.ts';

import type { Forward } from './resolve.ts';
import { VM_FILES } from './spec-paths.ts';
export type { Forward };

export interface BootMetrics {
  qmpS?: number;
  portS?: number;
  bannerS?: number;
  sshS?: number;
}

export interface VmState {
  lab: string;
  vm: string;
  phase: 'booting' | 'running' | 'failed' | 'stopped' | 'suspended';
  pid?: number;
  startedAt?: string;
  stoppedAt?: string;
  accel?: 'kvm' | 'tcg';
  argv?: string[];
  forwards?: Forward[];
  ssh?: { host: string; port: number; user: string };
  metrics?: BootMetrics;
  /** The kit image this VM boots: its cache folder, hash and pinned host key. */
  image?: { hash: string; hostKeyPub: string; dir?: string };
  failure?: string;
  /** Nested VMs: the VM their QEMU runs in, and their QMP port on its loopback. */
  parent?: string;
  qmpPort?: number;
  /** A suspended VM of the host: what `resume` loads (its children are saved inside it). */
  saved?: SavedState;
}

/** A lab-wide suspend, as each top-level VM's record keeps it. */
export interface SavedState {
  /** The internal snapshot (VM state and disks) in the VM's qcow2, named by graintime (the suspend's name, with `managed`). */
  snapshot: string;
  /** The machine's own managed save holds the VM state (libvirt), not a snapshot in the qcow2. */
  managed?: boolean;
  at: string;
  /** QEMU loads only the state its own version wrote for the same machine. */
  qemuVersion?: string;
  /** The command line it ran (without -loadvm): a resume must run the same devices. */
  argv: string[];
}

const stateFile = (p: VmPaths) => join(p.dir, VM_FILES.state);

export function readState(p: VmPaths): VmState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(p), 'utf8')) as VmState;
  } catch {
    return undefined;
  }
}

/**
 * Written whole to a temporary file, then renamed: a reader never sees half a state.  On a
 * full filesystem there is no room for the copy, but the record must still say what is true
 * (QEMU was stopped, say): the old file's own blocks then take the new text in place.
 */
export function writeState(p: VmPaths, s: VmState): void {
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  chmodSync(p.dir, 0o700);
  const text = JSON.stringify(s, null, 2) + '\n';
  const tmp = `${stateFile(p)}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, stateFile(p));
  } catch (err) {
    rmSync(tmp, { force: true });
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC' || !existsSync(stateFile(p))) throw err;
    writeFileSync(stateFile(p), text, { mode: 0o600 });
  }
}

/** The record gone, as for a VM that never booted. */
export function removeState(p: VmPaths): void {
  rmSync(stateFile(p), { force: true });
}

export function updateState(p: VmPaths, change: Partial<VmState>): VmState | undefined {
  const s = readState(p);
  if (!s) return undefined;
  const next = { ...s, ...change };
  writeState(p, next);
  return next;
}

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

export type LiveState = 'running' | 'booting' | 'stopped' | 'crashed' | 'suspended';

export interface VmStatus {
  lab: string;
  name: string;
  parent?: string;
  depth: number;
  state: LiveState;
  reason?: string;
  pid?: number;
  accel?: string;
  qmpStatus?: string;
  /** libvirt's word on the domain it runs as (`domstate --reason`), for a VM on libvirt. */
  domstate?: string;
  forwards: Forward[];
  uptimeS?: number;
  metrics?: BootMetrics;
}

/**
 * QMP states that mean the guest is dead even though QEMU still runs.  io-error: paused on a
 * disk write that failed (most often a full filesystem under the VM's disk); it stays so.
 */
export const DEAD_QMP = new Set(['internal-error', 'guest-panicked', 'shutdown', 'io-error']);
