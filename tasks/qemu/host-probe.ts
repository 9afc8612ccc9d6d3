// What this machine can do, measured rather than assumed.  `/dev/kvm` alone proves
// nothing: on a paravirtual host (kvm_pvm) it opens and KVM_CREATE_VM succeeds, yet a
// normal kernel never boots under accel=kvm.  So the verdict also reads CPU flags and
// which kvm module is loaded.  The same classifyKvm judges facts read inside a guest.
import { constants, accessSync, existsSync, readFileSync, statfsSync } from 'node:fs';
import { availableParallelism, totalmem, freemem } from 'node:os';
import { execFile } from 'node:child_process';
import { basename, join } from 'node:path';
import { currentQemu, qemuEnv, type QemuInstall } from './which.ts';

export interface KvmFacts {
  devKvm: 'absent' | 'no-access' | 'present';
  cpuFlags: { vmx: boolean; svm: boolean };
  modules: string[]; // loaded kvm-related modules: kvm, kvm_intel, kvm_amd, kvm_pvm
  nestedParam?: string; // /sys/module/kvm_{intel,amd}/parameters/nested
}

export type KvmVerdict =
  | { state: 'usable'; vendor: 'intel' | 'amd'; nested: boolean; reason: string }
  | { state: 'unusable'; reason: string; hint: string }
  | { state: 'absent'; reason: string; hint: string };

export function classifyKvm(f: KvmFacts): KvmVerdict {
  if (f.devKvm === 'absent') return { state: 'absent', reason: '/dev/kvm does not exist', hint: 'load kvm_intel or kvm_amd, or run under TCG (slower)' };
  if (f.modules.includes('kvm_pvm'))
    return {
      state: 'unusable',
      reason: 'kvm_pvm: paravirtual KVM (this machine is itself a VM); a normal kernel under accel=kvm never boots',
      hint: 'guests run under TCG with -cpu max, which also exposes svm so their children can use KVM',
    };
  if (!f.cpuFlags.vmx && !f.cpuFlags.svm)
    return { state: 'unusable', reason: 'no vmx or svm flag in /proc/cpuinfo', hint: 'enable VT-x/AMD-V (or nested virtualization on the outer host)' };
  const vendor = f.modules.includes('kvm_intel') ? 'intel' : f.modules.includes('kvm_amd') ? 'amd' : undefined;
  if (!vendor) return { state: 'unusable', reason: 'neither kvm_intel nor kvm_amd is loaded', hint: `modprobe ${f.cpuFlags.vmx ? 'kvm_intel' : 'kvm_amd'}` };
  if (f.devKvm === 'no-access')
    return { state: 'unusable', reason: '/dev/kvm is not readable and writable by this user', hint: 'add the user to the kvm group' };
  const nested = f.nestedParam === 'Y' || f.nestedParam === '1';
  return { state: 'usable', vendor, nested, reason: `kvm_${vendor} loaded, ${f.cpuFlags.vmx ? 'vmx' : 'svm'} present` };
}

/** Reads the KVM facts below `root` ('/' normally; tests pass a fake tree). */
export function readKvmFacts(root = '/'): KvmFacts {
  const at = (p: string) => join(root, p);
  let devKvm: KvmFacts['devKvm'] = 'absent';
  if (existsSync(at('dev/kvm'))) {
    try {
      accessSync(at('dev/kvm'), constants.R_OK | constants.W_OK);
      devKvm = 'present';
    } catch {
      devKvm = 'no-access';
    }
  }
  const cpuinfo = readOr(at('proc/cpuinfo'));
  const flagLine = cpuinfo.split('\n').find((l) => /^flags\s*:/.test(l)) ?? '';
  const flags = new Set(flagLine.split(':')[1]?.trim().split(/\s+/) ?? []);
  const modules = ['kvm', 'kvm_intel', 'kvm_amd', 'kvm_pvm'].filter((m) => existsSync(at(`sys/module/${m}`)));
  const vendorModule = modules.find((m) => m === 'kvm_intel' || m === 'kvm_amd');
  const nestedParam = vendorModule ? readOr(at(`sys/module/${vendorModule}/parameters/nested`)).trim() || undefined : undefined;
  return { devKvm, cpuFlags: { vmx: flags.has('vmx'), svm: flags.has('svm') }, modules, nestedParam };
}

export interface ToolInfo {
  path?: string;
  version?: string;
  error?: string;
}

export interface HostProbe {
  cpus: number;
  memoryMiB: number;
  freeMemoryMiB: number;
  freeDiskBytes?: number;
  qemu: ToolInfo;
  qemuImg: ToolInfo;
  /** Which QEMU, and where the choice came from. */
  install: QemuInstall;
  /** The accelerators the binary itself lists (`-accel help`): a built-in TCG and a module alike; undefined when it could not be asked. */
  accels?: string[];
  kvmFacts: KvmFacts;
  kvm: KvmVerdict;
}

const cached = new Map<string, Promise<HostProbe>>();

/** Probes once per process and QEMU (the lab's: which.ts); `fresh` forces a new probe. */
export function probeHost(opts: { diskPath?: string; fresh?: boolean } = {}): Promise<HostProbe> {
  const install = currentQemu();
  const key = `${install.system}\0${opts.diskPath ?? ''}`;
  if (!cached.has(key) || opts.fresh) cached.set(key, doProbe(install, opts.diskPath ?? process.cwd()));
  return cached.get(key)!;
}

async function doProbe(install: QemuInstall, diskPath: string): Promise<HostProbe> {
  const [qemu, qemuImg, accels] = await Promise.all([toolInfo(install.system, install), toolInfo(install.img, install), accelsOf(install)]);
  const kvmFacts = readKvmFacts('/');
  return {
    cpus: availableParallelism(),
    memoryMiB: Math.floor(totalmem() / 2 ** 20),
    freeMemoryMiB: Math.floor(freemem() / 2 ** 20),
    freeDiskBytes: freeDisk(diskPath),
    qemu,
    qemuImg,
    install,
    accels,
    kvmFacts,
    kvm: classifyKvm(kvmFacts),
  };
}

/** `-accel help`: "Accelerators supported in QEMU binary:" and one name a line. */
export function parseAccelHelp(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^[a-z][a-z0-9-]*$/.test(l));
}

function accelsOf(install: QemuInstall): Promise<string[] | undefined> {
  return new Promise((resolve) => {
    execFile(install.system, ['-accel', 'help'], { timeout: 10_000, env: qemuEnv(install) }, (err, stdout) =>
      resolve(err ? undefined : parseAccelHelp(stdout)),
    );
  });
}

function freeDisk(path: string): number | undefined {
  try {
    const s = statfsSync(path);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

function toolInfo(path: string, install: QemuInstall): Promise<ToolInfo> {
  const bin = basename(path);
  if (!path.includes('/')) return Promise.resolve({ error: `${bin} not found on PATH` });
  return new Promise((resolve) => {
    execFile(path, ['--version'], { timeout: 10_000, env: qemuEnv(install) }, (err, stdout) => {
      if (err) return resolve({ path, error: (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${path} not found (${install.from})` : err.message });
      const m = /version\s+(\d+\.\d+(?:\.\d+)?)/.exec(stdout);
      resolve({ path, version: m?.[1] ?? stdout.split('\n')[0]?.trim() });
    });
  });
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
