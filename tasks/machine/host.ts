// This host as a Machine: QEMU runs as a local process, its runtime files sit in the VM's
// state folder, QMP is a unix socket, and /proc is read directly (no forks: status and
// charts read it often).
import { withTimeout } from '../util/retry.ts';
import { lastLines } from '../util/errors.ts';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  statfsSync,
} from 'node:fs';
import { connect, type Socket } from 'node:net';
import { homedir } from 'node:os';
import { run } from '../util/exec.ts';
import { probeHost } from '../qemu/host-probe.ts';
import { currentQemu, qemuEnv, runQemuTool } from '../qemu/which.ts';
import { ensureSocketDir, kitPaths, runningRamFile, stateRoot } from '../util/paths.ts';
import { portFree, portHolder } from '../util/ports.ts';
import { QmpClient } from '../qemu/qmp.ts';
import { createDisk } from '../qemu/disk-image.ts';
import { isOurQemu, processUptimeS, readPidfile } from '../qemu/process.ts';
import type { VmState } from './record.ts';
import {
  imagesFolderStash,
  diskFigures,
  type DiskFigures,
  type Machine,
  type MachineProbe,
  type Overlay,
  type ProcReading,
  type QemuRef,
  type QemuSample,
  type SampleOptions,
} from './machine.ts';
import type { Forward, LabResolved, VmPlace } from '../spec/tree.ts';
import type { ArgSection } from '../qemu/plan.ts';
import { pipeFifos } from '../qemu/port-shell.ts';
import { dirname, join, resolve } from 'node:path';
import { VM_FILES } from '../util/paths.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tailOf = (file: string, n: number) => (existsSync(file) ? lastLines(readFileSync(file, 'utf8'), n) : '');

export class HostMachine implements Machine {
  readonly slow = false;
  readonly local = true;
  readonly readsHostFiles = true;
  /**
   * In a tmpfs (runningRamFile) unless GRAINCHART_RAM_FILES=0, where it has room for all of
   * this RAM besides what the RAM files already there may still grow by.
   */
  ramFileFor(ref: QemuRef, memoryMiB: number, room: 'checked' | 'assumed' = 'checked'): string | undefined {
    if (process.env.GRAINCHART_RAM_FILES === '0') return undefined;
    const file = runningRamFile(ref.paths.dir);
    if (room === 'assumed') return file;
    const dir = dirname(file);
    if (!existsSync(dir)) return undefined;
    let promised = 0;
    for (const name of readdirSync(dir))
      if (name.startsWith('grainchart-') && name.endsWith('.ram') && join(dir, name) !== file) {
        const st = statSync(join(dir, name), { throwIfNoEntry: false });
        if (st) promised += Math.max(0, st.size - st.blocks * 512);
      }
    const fs = statfsSync(dir);
    return fs.bavail * fs.bsize - promised >= (memoryMiB + 64) * 2 ** 20 ? file : undefined;
  }
  readonly stashPath = imagesFolderStash;
  qemuDataDirs(): string[] {
    return currentQemu().dataDirs;
  }
  readonly where: string = 'on this host';
  readonly at: string = '';
  readonly inside = undefined;
  readonly installHint: string = 'bash scripts/setup-host.sh';
  get home(): string {
    return process.env.HOME ?? homedir();
  }

  ref(lab: LabResolved, place: VmPlace): QemuRef {
    return { name: place.vm.name, paths: kitPaths(lab.name, place.vm.name).vm };
  }

  async probe(forwards: Forward[] = []): Promise<MachineProbe> {
    const p = await probeHost();
    const taken: MachineProbe['taken'] = [];
    for (const f of forwards) {
      if (f.proto !== 'tcp' || (await portFree(f.bind, f.host))) continue;
      const h = portHolder(f.host);
      taken.push({ forward: f, holder: ourVmOnPort(f.host) ?? (h ? `pid ${h.pid} (${h.command})` : undefined) });
    }
    return {
      kvmFacts: p.kvmFacts,
      kvm: p.kvm,
      memoryMiB: p.memoryMiB,
      cpus: p.cpus,
      qemu: p.qemu.path,
      qemuVersion: p.qemu.version,
      qemuImg: !!p.qemuImg.path,
      taken,
    };
  }

  async sample(ref: QemuRef, opts: SampleOptions = {}): Promise<QemuSample> {
    const pid = opts.pid ?? readPidfile(ref.paths) ?? opts.fallbackPid;
    const disks = Object.fromEntries((opts.disks ?? []).map((f) => [f, diskOf(f)]));
    const alive = !!pid && isOurQemu(pid, ref.paths);
    const base = { pid, pidfile: existsSync(ref.paths.pid), alive, disks };
    if (!alive || opts.windowMs === undefined) return { ...base, uptimeS: alive ? processUptimeS(pid!) : undefined };
    try {
      const start = opts.windowMs > 0 ? procReading(pid!) : undefined;
      if (start) await sleep(opts.windowMs);
      const end = procReading(pid!);
      const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
      return { ...base, uptimeS: processUptimeS(pid!), rssKiB, start, end };
    } catch {
      return { ...base, alive: isOurQemu(pid!, ref.paths) }; // it ended while being read
    }
  }

  async signal(ref: QemuRef, pid: number, sig: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
    if (!isOurQemu(pid, ref.paths)) return false;
    process.kill(pid, sig);
    return true;
  }

  qmp(ref: QemuRef, timeoutMs = 3000): Promise<QmpClient> {
    return QmpClient.connect(ref.paths.qmp, timeoutMs);
  }

  dial(port: number, host = '127.0.0.1'): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = connect({ host, port }, () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
  }

  async tail(file: string, lines: number): Promise<string> {
    return tailOf(file, lines);
  }

  async fileSize(file: string): Promise<number | undefined> {
    return statSync(file, { throwIfNoEntry: false })?.size;
  }

  async prepare(ref: QemuRef, overlays: Overlay[] = []): Promise<void> {
    // The VM's folder, this user's alone, and its QMP socket's.
    mkdirSync(ref.paths.dir, { recursive: true, mode: 0o700 });
    chmodSync(ref.paths.dir, 0o700);
    ensureSocketDir(ref.paths.qmp);
    await this.cleanRuntime(ref);
    // QEMU would create the serial log 0640; made here first, it keeps 0600.
    closeSync(openSync(ref.paths.serial, 'w', 0o600));
    chmodSync(ref.paths.serial, 0o600);
    await makeOverlays(overlays);
  }

  /** Folders it makes are this user's alone. */
  async put(local: string, remote: string, opts: { keep?: boolean } = {}): Promise<void> {
    if (resolve(local) === resolve(remote)) return;
    if (opts.keep && existsSync(remote) && statSync(remote).size === statSync(local).size) return;
    mkdirSync(dirname(remote), { recursive: true, mode: 0o700 });
    copyFileSync(local, remote);
    chmodSync(remote, 0o600);
  }

  /** -daemonize: QEMU forks, and its own errors would be lost unless stderr goes to a file first. */
  async start(ref: QemuRef, args: string[], _plan?: ArgSection[]): Promise<{ code: number | null; pid?: number; stderr: string; command: string[] }> {
    const install = currentQemu();
    const qemu = install.system;
    // A pipe chardev (the port shell's) opens FIFOs that must be there: made once, owner-only.
    const fifos = pipeFifos(args).filter((f) => !existsSync(f));
    if (fifos.length) await run(['mkfifo', '-m', '600', ...fifos]);
    const errFd = openSync(ref.paths.stderr, 'w', 0o600);
    let code: number | null;
    try {
      const child = spawn(qemu, args, { stdio: ['ignore', errFd, errFd], detached: true, env: qemuEnv(install) });
      code = await waitExit(child, 30_000);
    } finally {
      closeSync(errFd);
    }
    // -daemonize sets umask 027, so QEMU makes the socket and pidfile group-readable;
    // the folder is 0700 already, and these become owner-only too.
    for (const f of [ref.paths.qmp, ref.paths.pid]) if (existsSync(f)) chmodSync(f, 0o600);
    return { code, pid: readPidfile(ref.paths), stderr: code === 0 ? '' : tailOf(ref.paths.stderr, 20), command: [qemu, ...args] };
  }

  async cleanRuntime(ref: QemuRef): Promise<void> {
    rmSync(ref.paths.pid, { force: true });
    rmSync(ref.paths.qmp, { force: true });
  }

  async run(argv: string[], timeoutMs = 120_000): Promise<string> {
    return (await runQemuTool(argv, { timeoutMs, hint: argv[0] === 'qemu-img' ? 'is another program holding the image? is the disk full?' : undefined }))
      .stdout;
  }
}

/** Overlays on this host (0600): made, or kept when they exist and are not to be replaced. */
async function makeOverlays(overlays: Overlay[]): Promise<void> {
  for (const o of overlays) {
    if (o.replace) rmSync(o.file, { force: true });
    if (existsSync(o.file)) continue;
    await createDisk(o.file, { format: 'qcow2', backing: o.backing, size: o.size });
    chmodSync(o.file, 0o600);
  }
}

/** The one host machine. */
export const hostMachine: Machine = new HostMachine();

function procReading(pid: number): ProcReading {
  const tasks: Record<number, string> = {};
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      tasks[Number(t)] = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
    } catch {
      /* a thread that just ended */
    }
  }
  return { uptimeS: Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]), stat: readFileSync(`/proc/${pid}/stat`, 'utf8'), tasks };
}

function diskOf(file: string): DiskFigures | { error: string } {
  try {
    const st = statSync(file);
    const head = Buffer.alloc(32);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, head, 0, 32, 0);
    } finally {
      closeSync(fd);
    }
    return diskFigures(head, st.size, st.blocks);
  } catch (err) {
    return { error: `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
}

/** The daemonizing QEMU's exit code: it exits once its child runs (0) or it refused (non-zero). */
function waitExit(child: ReturnType<typeof spawn>, timeoutMs: number): Promise<number | null> {
  const exit = new Promise<number | null>((resolve, reject) => {
    child.once('exit', resolve);
    child.once('error', reject);
  });
  return withTimeout(exit, timeoutMs, 'QEMU’s start (until it daemonized)');
}

/** Which VM of ours holds a host port, from the state files of running VMs. */
function ourVmOnPort(port: number): string | undefined {
  const root = stateRoot();
  if (!existsSync(root)) return undefined;
  for (const lab of readdirSync(root)) {
    let vms: string[] = [];
    try {
      vms = readdirSync(join(root, lab));
    } catch {
      continue;
    }
    for (const vm of vms) {
      try {
        const s = JSON.parse(readFileSync(join(root, lab, vm, VM_FILES.state), 'utf8')) as VmState;
        if (s.pid && s.forwards?.some((f) => f.host === port) && existsSync(`/proc/${s.pid}`)) return `VM ${lab}/${vm} (pid ${s.pid})`;
      } catch {
        /* not a VM folder */
      }
    }
  }
  return undefined;
}
