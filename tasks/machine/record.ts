// A VM's record on this host (state.json): what the kit did to it — its phase, pid, argv,
// forwards, and a suspend's saved state.  Written atomically (0600).  What is true right now,
// at any layer, is vm/status.ts's to say; whether a pid is this VM's QEMU, qemu/process.ts's.
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { VmPaths } from '../util/paths.ts';
import { TaskError } from '../util/errors.ts';

import type { Forward } from '../spec/tree.ts';
import type { MachinePin } from '../qemu/machine-type.ts';
import { VM_FILES } from '../util/paths.ts';

export interface BootMetrics {
  qmpS?: number;
  portS?: number;
  bannerS?: number;
  sshS?: number;
  /** Stages that met a dropped SSH connection and went on over a new one. */
  retries?: StageRetry[];
  /** The first try's failure, when the boot was tried once more (a kernel panic, a hang). */
  bootedAgain?: string;
}

/** A boot stage tried again after a dropped SSH connection: how often, and each distinct reason (joined by " · "). */
export interface StageRetry {
  stage: string;
  times: number;
  reason: string;
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
  /**
   * Not yet up once on its root disk: a boot that ends before SSH answers (a panic, a lost
   * parent) may leave half a first boot there, so the next boot makes the disk anew.
   */
  firstBoot?: true;
  /**
   * The versioned machine type its first boot's QEMU resolved the spec's type to (q35 →
   * pc-q35-7.2), which every later boot runs while the spec asks for the same type: a state
   * saved under one QEMU then loads under a newer one (qemu/machine-type.ts).
   */
  machine?: MachinePin;
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
  /** Only the devices were saved (devices.state), the RAM being in the VM's RAM file: resumed with -incoming. */
  devices?: boolean;
  at: string;
  /** QEMU loads only the state its own version wrote for the same machine. */
  qemuVersion?: string;
  /** The versioned machine type it ran (`q35` resolved, e.g. pc-q35-7.2): a QEMU without it cannot load the state. */
  machineType?: string;
  /** Its CPU model (e.g. max): a QEMU without it cannot load the state. */
  cpuModel?: string;
  /** The command line it ran (without -loadvm): a resume must run the same devices. */
  argv: string[];
  /** What it takes on disk, read at the suspend (devices and the RAM's touched pages, or the snapshot's VM state). */
  bytes?: number;
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
  const text = `${JSON.stringify(s, null, 2)}\n`;
  const tmp = `${stateFile(p)}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, stateFile(p));
  } catch (err) {
    rmSync(tmp, { force: true });
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC' || !existsSync(stateFile(p))) throw noRoom(p, err);
    overwriteInPlace(stateFile(p), text, p);
  }
}

/**
 * Over the file's own blocks, cut to length after: not truncated first, since on a full
 * filesystem the blocks a truncate frees are taken at once by whatever else writes there (the
 * guest's disk, its serial log), and the record would be left empty.
 */
function overwriteInPlace(file: string, text: string, p: VmPaths): void {
  const before = readFileSync(file);
  const fd = openSync(file, 'r+');
  const put = (bytes: Buffer) => {
    // A write cut short by a full disk returns the part it wrote; only the next one throws.
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at, at);
    ftruncateSync(fd, bytes.length);
  };
  try {
    put(Buffer.from(text));
  } catch (err) {
    // A longer record needed a block there was none of: the old one back, whole (it fits).
    put(before);
    throw noRoom(p, err);
  } finally {
    closeSync(fd);
  }
}

/** A full disk named, with the folder to free; other errors as they are. */
function noRoom(p: VmPaths, err: unknown): unknown {
  if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') return err;
  return new TaskError(`no room to record the VM's state in ${stateFile(p)}`, {
    hint: `the filesystem that holds ${p.dir} is full: free space there (df ${p.dir})`,
    cause: err,
  });
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
