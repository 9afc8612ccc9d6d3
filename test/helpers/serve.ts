// `serve` started for a test: from the sources under tsx, or from the compiled copy under plain
// node (build/js, what a dashboard left running uses); its first stdout line is the URL.
import { spawn, type ChildProcess } from 'node:child_process';
import { LEAN_ENTRY } from '../../tasks/util/kit-entry.ts';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';
import { TASKS } from './cli.ts';

export interface Served {
  child: ChildProcess;
  /** The first line of stdout (the URL, or with --json the object); rejects if serve exits first. */
  first: Promise<string>;
  stderr: () => string;
}

export function startServe(args: string[], env: NodeJS.ProcessEnv, opts: { lean?: boolean } = {}): Served {
  const kit = opts.lean ? [LEAN_ENTRY] : ['--import', 'tsx', TASKS];
  const child = spawn(process.execPath, [...kit, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  const first = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { child, first, stderr: () => err };
}

export interface FrameVm {
  name: string;
  state: string;
  machine: string;
  layer: number;
  parent?: string;
  cpuPercent?: number;
}

/** One reading of the lab as the page gets it (/api/frame), for a served URL. */
export async function frameOf(url: string): Promise<{ seq: number; vms: FrameVm[] }> {
  const r = await fetch(url.replace('/?token=', '/api/frame?token='));
  if (r.status !== 200) throw new Error(`/api/frame: ${r.status}`);
  return ((await r.json()) as { frame: { seq: number; vms: FrameVm[] } }).frame;
}
