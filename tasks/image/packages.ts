// Debian packages for guest images: resolve candidate versions, download .debs into the
// cache with `apt-get download`, unpack with `dpkg-deb -x`.  Nothing is installed on the host.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { shell } from './shell.ts';
import { TaskError } from '../util/errors.ts';

export interface Pkg {
  name: string;
  version: string;
}

/** The candidate version apt would install, or undefined when apt does not know the package. */
async function candidate(name: string): Promise<string | undefined> {
  const r = await (await shell())`apt-cache policy ${name}`;
  const m = /Candidate:\s*(\S+)/.exec(r.stdout);
  return m && m[1] !== '(none)' ? m[1] : undefined;
}

/** A meta package's first dependency: linux-image-cloud-amd64 → linux-image-6.1.0-NN-cloud-amd64. */
async function dependencyOf(meta: string, prefix: string): Promise<string | undefined> {
  const r = await (await shell())`apt-cache depends ${meta}`;
  return r.stdout
    .split('\n')
    .map((l) => /Depends:\s*(\S+)/.exec(l)?.[1])
    .find((n) => n?.startsWith(prefix));
}

let updated = false;
/** apt's package lists are empty on a fresh machine: update once, then ask again. */
async function withLists<T>(look: () => Promise<T | undefined>, what: string): Promise<T> {
  let found = await look();
  if (found === undefined && !updated) {
    updated = true;
    const r = await (await shell())`apt-get update -qq`;
    if (r.exitCode !== 0)
      throw new TaskError('apt-get update failed', {
        command: ['apt-get', 'update'],
        exitCode: r.exitCode,
        stderr: r.stderr,
        hint: 'building images needs root and Debian’s package registry',
      });
    found = await look();
  }
  if (found === undefined) throw new TaskError(`apt knows no package ${what}`, { hint: 'is this a Debian 12 host with its package registry reachable?' });
  return found;
}

/**
 * What apt's answers depend on: its package lists.  `apt-get update` replaces files there,
 * which changes the folder's listing and times; the same state gives the same versions.
 */
function aptListsState(dir = '/var/lib/apt/lists'): string | undefined {
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir).filter((f) => f.endsWith('_Packages') || f.endsWith('Release'));
  if (!files.length) return undefined;
  return files
    .sort()
    .map((f) => `${f}:${statSync(join(dir, f)).mtimeMs}`)
    .join('|');
}

/** What the tiny image is made of; the kernel's versioned package is looked up from its meta package. */
// openssh-sftp-server: dropbear runs /usr/lib/sftp-server for SFTP (cp), and has none of its own.
export const TINY_PACKAGES = ['busybox-static', 'dropbear-bin', 'libtomcrypt1', 'libtommath1', 'openssh-sftp-server'];

/**
 * Exact versions of everything the tiny image is made of.  apt-cache takes ~0.7 s a call,
 * so the answer is remembered in `memoFile` for the same package list until apt's lists change.
 */
export async function resolveTinyPackages(memoFile?: string): Promise<{ kernel: Pkg; packages: Pkg[] }> {
  const state = aptListsState();
  const names = TINY_PACKAGES.join(' ');
  if (memoFile && state && existsSync(memoFile)) {
    const memo = JSON.parse(readFileSync(memoFile, 'utf8')) as { state: string; names: string; packages: Pkg[] };
    if (memo.state === state && memo.names === names) return { kernel: memo.packages[0]!, packages: memo.packages };
  }
  const resolved = await lookUpTinyPackages();
  const after = aptListsState();
  if (memoFile && after) {
    mkdirSync(dirname(memoFile), { recursive: true });
    writeFileSync(memoFile, JSON.stringify({ state: after, names, packages: resolved.packages }));
  }
  return resolved;
}

async function lookUpTinyPackages(): Promise<{ kernel: Pkg; packages: Pkg[] }> {
  const kernelName = await withLists(() => dependencyOf('linux-image-cloud-amd64', 'linux-image-'), 'linux-image-cloud-amd64');
  const names = [kernelName, ...TINY_PACKAGES];
  const packages = await Promise.all(names.map(async (name) => ({ name, version: await withLists(() => candidate(name), name) })));
  return { kernel: packages[0]!, packages };
}

const debFileName = (p: Pkg) => `${p.name}_${p.version.replaceAll(':', '%3a')}_`;

export function cachedDeb(dir: string, p: Pkg): string | undefined {
  if (!existsSync(dir)) return undefined;
  const f = readdirSync(dir).find((n) => n.startsWith(debFileName(p)) && n.endsWith('.deb'));
  return f ? join(dir, f) : undefined;
}

/** Downloads what is not cached yet; returns the .deb paths in the order given. */
export async function downloadDebs(dir: string, pkgs: Pkg[]): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const missing = pkgs.filter((p) => !cachedDeb(dir, p)).map((p) => `${p.name}=${p.version}`);
  if (missing.length) {
    // As root, apt would hand the download to the _apt user, who cannot write our cache.
    const sandbox = process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
    const r = await (await shell({ cwd: dir }))`apt-get download -q ${sandbox} ${missing}`;
    if (r.exitCode !== 0)
      throw new TaskError('apt-get download failed', {
        command: ['apt-get', 'download', ...missing],
        exitCode: r.exitCode,
        stderr: r.stderr,
        hint: 'is Debian’s package registry reachable?',
      });
  }
  return pkgs.map((p) => {
    const f = cachedDeb(dir, p);
    if (!f) throw new TaskError(`downloaded ${p.name} ${p.version} but cannot find its .deb in ${dir}`);
    return f;
  });
}

export async function unpackDebs(debs: string[], into: string): Promise<void> {
  mkdirSync(into, { recursive: true });
  for (const deb of debs) {
    const r = await (await shell())`dpkg-deb -x ${deb} ${into}`;
    if (r.exitCode !== 0) throw new TaskError(`dpkg-deb -x ${deb} failed`, { exitCode: r.exitCode, stderr: r.stderr });
  }
}
