// Which QEMU runs a lab's VMs on this host, as libvirt's <emulator> names it: the spec's
// `host.qemu` (the path of a qemu-system-x86_64), else GRAINCHART_QEMU, else the one on PATH;
// its qemu-img is the one beside it (else the one on PATH).
//
// A QEMU unpacked from Debian's packages into a folder (`dpkg -x`, nothing installed: how the
// kit's setup puts a second QEMU beside the system's) is not relocatable: it looks for its
// firmware in /usr/share/qemu and /usr/share/seabios and its modules in
// /usr/lib/x86_64-linux-gnu/qemu, and refuses another build's modules there.  So where the
// binary sits in such a tree (ROOT/usr/bin), its own firmware folders go first (-L) and its
// modules folder is named (QEMU_MODULE_DIR).  A QEMU built with its own prefix finds its files
// itself and is run as it is.
import { accessSync, constants, existsSync } from 'node:fs';
import { run, type RunResult } from '../util/exec.ts';
import { delimiter, dirname, join, resolve } from 'node:path';

export interface QemuInstall {
  /** qemu-system-x86_64's path, or its bare name when none was found (the error then says so). */
  system: string;
  /** qemu-img's. */
  img: string;
  /** Where the choice came from, for messages: the spec's field, the environment, or PATH. */
  from: 'host.qemu' | 'GRAINCHART_QEMU' | 'PATH';
  /** Firmware folders searched first (each a -L), for a QEMU unpacked into a folder. */
  dataDirs: string[];
  /** Its modules' folder (QEMU_MODULE_DIR), for a QEMU unpacked into a folder. */
  moduleDir?: string;
}

const SYSTEM = 'qemu-system-x86_64';
const MODULES = 'usr/lib/x86_64-linux-gnu/qemu';

const executable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

export const findOnPath = (bin: string, pathEnv = process.env.PATH ?? ''): string | undefined =>
  pathEnv
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, bin))
    .find(executable);

/** The QEMU whose qemu-system-x86_64 is `system`, with what an unpacked package tree needs. */
export function qemuAt(system: string, from: QemuInstall['from']): QemuInstall {
  const bin = dirname(system);
  const beside = join(bin, 'qemu-img');
  const img = executable(beside) ? beside : (findOnPath('qemu-img') ?? 'qemu-img');
  // ROOT/usr/bin/qemu-system-x86_64 with ROOT/usr/share/qemu: a Debian package tree, not the system's own.
  const root = bin.endsWith('/usr/bin') ? bin.slice(0, -'/usr/bin'.length) : undefined;
  if (!root || !existsSync(join(root, 'usr/share/qemu'))) return { system, img, from, dataDirs: [] };
  const dataDirs = ['usr/share/qemu', 'usr/share/seabios'].map((d) => join(root, d)).filter((d) => existsSync(d));
  const moduleDir = existsSync(join(root, MODULES)) ? join(root, MODULES) : undefined;
  return { system, img, from, dataDirs, moduleDir };
}

/**
 * The QEMU for a lab whose spec says `host.qemu` (or not): that path, else GRAINCHART_QEMU,
 * else PATH's.  A path that is not an executable file is returned as it is, for the probe to
 * say so (doctor, and a boot's preflight).
 */
export function chosenQemu(specQemu?: string, env: NodeJS.ProcessEnv = process.env): QemuInstall {
  if (specQemu) return qemuAt(resolve(specQemu), 'host.qemu');
  if (env.GRAINCHART_QEMU) return qemuAt(resolve(env.GRAINCHART_QEMU), 'GRAINCHART_QEMU');
  const found = findOnPath(SYSTEM);
  return found ? qemuAt(found, 'PATH') : { system: SYSTEM, img: findOnPath('qemu-img') ?? 'qemu-img', from: 'PATH', dataDirs: [] };
}

/** What its processes need in their environment: an unpacked tree's modules named; nothing for an installed QEMU. */
export const moduleEnv = (q: QemuInstall): Record<string, string> => (q.moduleDir ? { QEMU_MODULE_DIR: q.moduleDir } : {});

/** The environment its processes run with: `env` and moduleEnv. */
export const qemuEnv = (q: QemuInstall, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv => (q.moduleDir ? { ...env, ...moduleEnv(q) } : env);

/** Its own firmware folders, first on its command line. */
export const dataDirArgs = (q: QemuInstall): string[] => q.dataDirs.flatMap((d) => ['-L', d]);

/** What the lab this process works on says (host.qemu): set once its machines are chosen (machine/machine-for.ts). */
let labQemu: string | undefined;

/** The lab this process works on names its QEMU, or not: every QEMU and qemu-img the kit runs on this host from now on is that one. */
export function useLabQemu(specQemu: string | undefined): void {
  labQemu = specQemu;
}

/** The QEMU this process runs on this host. */
export const currentQemu = (): QemuInstall => chosenQemu(labQemu);

/** A command for this host whose first word is qemu-img or qemu-system-x86_64, as the chosen QEMU's, with its environment. */
export function withChosenQemu(argv: string[]): { argv: string[]; env: NodeJS.ProcessEnv } {
  const q = currentQemu();
  const bin = argv[0] === 'qemu-img' ? q.img : argv[0] === SYSTEM ? q.system : argv[0]!;
  return { argv: [bin, ...argv.slice(1)], env: qemuEnv(q) };
}

/** `run`, with qemu-img and qemu-system-x86_64 the chosen QEMU's. */
export function runQemuTool(argv: string[], opts: { hint?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const c = withChosenQemu(argv);
  return run(c.argv, { ...opts, env: c.env });
}
