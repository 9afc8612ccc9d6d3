// Where the kit keeps state: <root>/<lab>/<vm>/ holds the QMP socket, pidfile, serial log
// and QEMU's stderr.  Root is $GRAINCHART_HOME, else .grainchart/ in the project folder.
import { homedir } from 'node:os';
import { isAbsolute, join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from './errors.ts';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface VmPaths {
  dir: string;
  qmp: string;
  pid: string;
  serial: string;
  stderr: string;
}

export interface KitPaths {
  home: string;
  vm: VmPaths;
}

export function stateRoot(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.GRAINCHART_HOME ?? join(PROJECT_ROOT, '.grainchart'));
}

// sockaddr_un.sun_path holds 108 bytes including the NUL.
const MAX_SOCKET_PATH = 107;

export function vmPaths(root: string, lab: string, vm: string): VmPaths {
  const dir = join(root, lab, vm);
  const paths = { dir, qmp: join(dir, 'qmp.sock'), pid: join(dir, 'qemu.pid'), serial: join(dir, 'serial.log'), stderr: join(dir, 'qemu.stderr') };
  // QEMU option strings are comma-separated: a comma in the folder would split them.
  if (dir.includes(','))
    throw new UsageError(`state folder ${dir} contains a comma, which QEMU options cannot carry`, 'set GRAINCHART_HOME to a folder without commas');
  if (Buffer.byteLength(paths.qmp) > MAX_SOCKET_PATH)
    throw new UsageError(`QMP socket path is too long for a unix socket (${Buffer.byteLength(paths.qmp)} > ${MAX_SOCKET_PATH} bytes): ${paths.qmp}`, 'set GRAINCHART_HOME to a shorter folder');
  return paths;
}

export function kitPaths(lab: string, vm: string, env: NodeJS.ProcessEnv = process.env): KitPaths {
  return { home: env.HOME ?? homedir(), vm: vmPaths(stateRoot(env), lab, vm) };
}

/** Spec paths: `~/x` is in the home folder, a relative path is in the VM's state folder. */
export function expandPath(file: string, paths: { home: string; vm: { dir: string } }): string {
  if (file === '~') return paths.home;
  if (file.startsWith('~/')) return join(paths.home, file.slice(2));
  return isAbsolute(file) ? file : join(paths.vm.dir, file);
}
