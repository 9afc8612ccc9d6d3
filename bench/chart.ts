// chart: rendering tree and alloc for a generated 1,000-VM lab (pure: data → text), and
// `chart-vm demo` wall time with the demo lab up (live sources, in parallel).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveLab } from '../tasks/spec/resolve.ts';
import { allocData, renderAlloc, renderLabTree, treeData, type HostTotals } from '../tasks/chart/lab-charts.ts';
import type { VmStatus } from '../tasks/vm/status.ts';
import { PROJECT_ROOT } from '../tasks/util/paths.ts';
import { downLab } from '../tasks/lab/down.ts';
import { upLab } from '../tasks/lab/up.ts';
import { loadLab } from '../tasks/spec/load.ts';
import { askAgent } from '../tasks/agent/client.ts';
import { timeIt, type Row } from './stats.ts';
import { emptyTsFile, npxTsx } from './startup.ts';

/** 100 top-level VMs with 9 children each. */
function bigLab() {
  const vms = Array.from({ length: 100 }, (_, i) => ({
    name: `vm-${i}`,
    cpus: 16,
    memory: '64G',
    boot: { image: 'tiny-nest' },
    children: Array.from({ length: 9 }, (_, j) => ({ name: `vm-${i}-${j}`, cpus: 1, memory: 512, boot: { image: 'tiny' } })),
  }));
  return resolveLab({ name: 'big', vms }, { cpus: 256, memoryMiB: 8 * 2 ** 20 }, 'bench');
}

export async function benchChart(runs = 7): Promise<Row[]> {
  const lab = bigLab();
  const host: HostTotals = { title: 'big host', cpus: 256, memoryMiB: 8 * 2 ** 20, freeDiskBytes: 2 ** 42, accel: 'KVM usable' };
  const rows: VmStatus[] = [];
  const o = { width: 120, ascii: false, color: false };
  const tree: number[] = [];
  const alloc: number[] = [];
  for (let i = 0; i < runs; i++) {
    tree.push(await timeIt(async () => renderLabTree(treeData(lab, host, rows), o)));
    alloc.push(await timeIt(async () => renderAlloc(allocData(lab, host), o)));
  }
  // chart-vm demo, as a user runs it, with the lab up; baseline: the same process listing
  // tasks.  Twice: sampling on fresh SSH sessions (--no-agent, as the first chart of a lab
  // does), and answered by the lab's lab agent, which the first chart leaves running.
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-chart-'));
  process.env.GRAINCHART_HOME = home;
  const demo = await loadLab('demo');
  const run = (args: string[]) => async () =>
    execFileSync(process.execPath, ['--import', 'tsx', 'tasks.ts', ...args], {
      cwd: PROJECT_ROOT,
      stdio: 'ignore',
      env: { ...process.env, GRAINCHART_HOME: home },
    });
  const cold: number[] = [];
  const warm: number[] = [];
  const list: number[] = [];
  // The issue's own comparison: the command as a user types it, against `npx tsx` of an empty file.
  const empty = emptyTsFile(home);
  const npx = (args: string[]) => npxTsx(args, { ...process.env, GRAINCHART_HOME: home });
  const npxEmpty: number[] = [];
  const npxWarm: number[] = [];
  try {
    await upLab(demo, { quiet: true });
    await run(['chart-vm', 'demo'])(); // leaves the agent behind
    await waitForAgent('demo');
    // Apart: a chart on fresh sessions leaves the guests busy for a while (sshd children
    // ending, under TCG), which would land in the warm chart that follows it.
    for (let i = 0; i < 5; i++) {
      list.push(await timeIt(run(['tasks'])));
      warm.push(await timeIt(run(['chart-vm', 'demo'])));
    }
    for (let i = 0; i < 5; i++) {
      npxEmpty.push(await timeIt(npx([empty])));
      npxWarm.push(await timeIt(npx(['tasks.ts', 'chart-vm', 'demo'])));
    }
    for (let i = 0; i < 5; i++) cold.push(await timeIt(run(['chart-vm', 'demo', '--no-agent'])));
  } finally {
    await downLab(demo, { force: true });
    rmSync(home, { recursive: true, force: true });
  }
  return [
    { name: 'render tree, 1,000-VM lab', samples: tree, goal: '≤ 50 ms' },
    { name: 'render alloc, 1,000-VM lab', samples: alloc, goal: '≤ 50 ms' },
    { name: 'process start (list tasks)', samples: list },
    { name: 'chart-vm demo --no-agent, lab up (wall)', samples: cold, baseline: 'process start (list tasks)' },
    { name: 'chart-vm demo, lab agent warm (wall)', samples: warm, baseline: 'process start (list tasks)', goal: '≤ 1.0 s' },
    { name: 'npx tsx empty.ts (chart bench)', samples: npxEmpty },
    { name: 'npx tsx tasks.ts chart-vm demo, agent warm', samples: npxWarm, baseline: 'npx tsx empty.ts (chart bench)', goal: '≤ 1.15×' },
  ];
}

/** Until the lab's lab agent answers on its socket (it starts in the background). */
export async function waitForAgent(lab: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await askAgent(lab, { op: 'stats', sampleMs: 50 }, 5000)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the lab agent of ${lab} did not answer within ${timeoutMs / 1000} s`);
}
