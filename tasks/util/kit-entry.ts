// How the kit starts itself again (the lab agent), and its compiled copy.  Under tsx every
// process carries tsx's loader, whose worker thread alone costs ~30 MiB; `npm ci` also
// compiles the tasks into plain JavaScript (build/js, scripts/build-lean.ts) that plain node
// runs at its own floor.  A long-lived process — the lab agent, `serve` — is cheaper there,
// but only while that copy is the sources' own: any source newer than it, and the kit runs
// the sources.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from './paths.ts';
import { UsageError } from './errors.ts';

/** Where the compiled copy lives: two levels below the root, so PROJECT_ROOT reads the same from it. */
export const LEAN_DIR = join(PROJECT_ROOT, 'build', 'js');
export const LEAN_ENTRY = join(LEAN_DIR, 'tasks.js');
/** Written last by the build: the sources' newest mtime when it compiled them. */
export const LEAN_STAMP = join(LEAN_DIR, 'stamp.json');

/** This module runs from the compiled copy (esbuild put it into build/js), not from the sources. */
export const runningLean = (url = import.meta.url): boolean => fileURLToPath(url).startsWith(`${LEAN_DIR}/`);

/** The sources the copy is compiled from: tasks.ts and every .ts under tasks/ (the page's assets are read from tasks/ at run time). */
export function sourceFiles(root = PROJECT_ROOT): string[] {
  const out = [join(root, 'tasks.ts')];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) out.push(p);
    }
  };
  walk(join(root, 'tasks'));
  return out;
}

/** The newest mtime (ms) among the sources, and which file has it. */
export function newestSource(files = sourceFiles()): { file: string; mtimeMs: number } {
  let newest = { file: '', mtimeMs: 0 };
  for (const file of files) {
    const { mtimeMs } = statSync(file);
    if (mtimeMs > newest.mtimeMs) newest = { file, mtimeMs };
  }
  return newest;
}

/** Why the compiled copy cannot stand for the sources (none built, or a source newer than it); undefined when it can. */
export function leanStale(stamp = LEAN_STAMP, files?: string[]): string | undefined {
  let built: number;
  try {
    built = (JSON.parse(readFileSync(stamp, 'utf8')) as { newestSourceMs: number }).newestSourceMs;
  } catch {
    return `no compiled copy at ${stamp}`;
  }
  const newest = newestSource(files);
  return newest.mtimeMs > built ? `${newest.file} is newer than the compiled copy` : undefined;
}

/** Run from the compiled copy: refuse a stale one (it would run other code than the sources say). */
export function refuseStaleLean(): void {
  const why = leanStale();
  if (why) throw new UsageError(`build/js is out of date: ${why}`, 'npm run build (or run the sources: npx tsx tasks.ts …)');
}

/** The command line that runs the kit again in another process: the compiled copy when it is fresh, else node with this process's loader on tasks.ts. */
export function kitCommand(): string[] {
  if (runningLean() || !leanStale()) return [process.execPath, LEAN_ENTRY];
  return [process.execPath, ...process.execArgv, join(PROJECT_ROOT, 'tasks.ts')];
}
