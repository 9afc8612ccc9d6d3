// memory: the kit's peak RSS (VmHWM from /proc, sampled every 20 ms while it runs — the
// high-water mark only grows, so the last sample is the peak up to then) for `chart-vm demo`
// with the lab up and for a cold `up demo`, against listing tasks in the same process setup.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../tasks/util/paths.ts';
import { downLab } from '../tasks/lab/down.ts';
import { loadLab } from '../tasks/spec/load.ts';
import type { Row } from './stats.ts';
import { agentPid } from '../tasks/agent/client.ts';
import { waitForAgent } from './chart.ts';

function hwmMiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs `node --import tsx tasks.ts ARGS` (one process, as tests and CI do) and returns its peak RSS in MiB. */
export function peakRss(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'tasks.ts', ...args], { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
    let peak = 0;
    const timer = setInterval(() => (peak = Math.max(peak, hwmMiB(child.pid!))), 20);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(timer);
      if (code !== 0) reject(new Error(`tasks.ts ${args.join(' ')} exited ${code}`));
      else resolve(peak);
    });
  });
}

export async function benchMemory(runs = 5): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-mem-'));
  const env = { GRAINCHART_HOME: home };
  process.env.GRAINCHART_HOME = home;
  const demo = await loadLab('demo');
  const list: number[] = [];
  const up: number[] = [];
  const chart: number[] = [];
  const warm: number[] = [];
  const agent: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      list.push(await peakRss(['tasks'], env));
      up.push(await peakRss(['up', 'demo', '--quiet'], env));
      // The first chart samples on its own and leaves the lab agent; the next one asks it.
      chart.push(await peakRss(['chart-vm', 'demo'], env));
      await waitForAgent('demo');
      warm.push(await peakRss(['chart-vm', 'demo'], env));
      agent.push(hwmMiB(agentPid('demo') ?? 0));
      await downLab(demo, { force: true });
    }
  } finally {
    await downLab(demo, { force: true }).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  }
  return [
    { name: 'peak RSS: list tasks', samples: list, unit: 'MiB' },
    { name: 'peak RSS: up demo (cold)', samples: up, unit: 'MiB', baseline: 'peak RSS: list tasks', goal: '≤ 120 MiB' },
    { name: 'peak RSS: chart-vm demo, first (samples itself)', samples: chart, unit: 'MiB', baseline: 'peak RSS: list tasks', goal: '≤ 120 MiB' },
    { name: 'peak RSS: chart-vm demo, agent warm', samples: warm, unit: 'MiB', baseline: 'peak RSS: list tasks', goal: '≤ 120 MiB' },
    { name: 'peak RSS: lab agent (after both charts)', samples: agent, unit: 'MiB', baseline: 'peak RSS: list tasks', goal: '≤ 120 MiB' },
  ];
}
