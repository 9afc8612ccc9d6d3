// suspend: a nested lab brought back by `resume` against a cold `up`, each until its deepest
// VM answers `uname -a` over SSH (resumeLab runs it in every layer as it sets the clocks),
// alternating in one run; and how long `suspend` takes — each both ways: the RAM in a file
// (the default: RAM in a tmpfs file, devices saved and the RAM copied) and by snapshot
// (GRAINCHART_RAM_FILES=0, RAM QEMU's own).  `demo` (host → L1 → L2, tiny
// images) by default; `npm run bench suspend-debian-nest` (opt-in: ~5 min a run under TCG)
// does the same for the real distributions of `debian-nest` (a Debian with QEMU, Debian
// Stable inside it).  In-process, as bench/nested.ts times its cold up: the same code the
// tasks run, without the process start every task pays.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveLab } from '../tasks/spec/resolve.ts';
import { findVm } from '../tasks/spec/tree.ts';
import { localHostFacts, readLabInput } from '../tasks/spec/load.ts';
import { kitPaths } from '../tasks/util/paths.ts';
import { connectPlace } from '../tasks/vm/target.ts';
import { downLab } from '../tasks/lab/down.ts';
import { upLab } from '../tasks/lab/up.ts';
import { resumeLab } from '../tasks/suspend/resume.ts';
import { suspendLab } from '../tasks/suspend/ops.ts';
import { timeIt, type Row } from './stats.ts';

const quiet = { info: () => undefined, warn: () => undefined };

interface Subject {
  lab: string;
  /** The VM whose `uname -a` ends each timing: the deepest one. */
  deepest: string;
  /** Only these children of the top VM (the bench's lab is the same lab, made smaller). */
  children?: number;
  goals: { suspend?: string; resume: string; cold?: string };
}

const DEMO: Subject = { lab: 'demo', deepest: 'l2', goals: { suspend: '≤ 2 s', resume: '≤ 2.0 s, ≤ 0.12×', cold: '≤ 12 s' } };
const DEBIAN_NEST: Subject = { lab: 'debian-nest', deepest: 'stable', children: 1, goals: { resume: '≤ 5 s, ≤ 0.08×' } };

export const benchSuspend = (runs = 5) => benchSuspendOf(DEMO, runs);
export const benchSuspendDebianNest = (runs = Number(process.env.BENCH_RUNS) || 3) => benchSuspendOf(DEBIAN_NEST, runs);

async function benchSuspendOf(s: Subject, runs: number): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-susp-'));
  process.env.GRAINCHART_HOME = home;
  try {
    const input = (await readLabInput(s.lab)).input as { vms: Array<{ network: { sshPort: number }; children: unknown[] }> };
    input.vms[0]!.network.sshPort = 10822;
    if (s.children !== undefined) input.vms[0]!.children = input.vms[0]!.children.slice(0, s.children);
    const lab = resolveLab(input, localHostFacts(), 'bench');
    const deepest = findVm(lab, s.deepest)!;
    // The top level's overlays: a child's lives inside its parent's, which goes with it.
    const overlays = lab.vms.map((v) => join(kitPaths(lab.name, v.name).vm.dir, 'root.qcow2'));
    const unameInDeepest = async () => {
      const g = await connectPlace(lab, deepest, 30_000);
      try {
        await g.succeed('uname -a');
      } finally {
        g.close();
      }
    };
    const cold = { ram: [] as number[], snapshot: [] as number[] };
    // Each run both ways, alternating: the RAM in a file (devices saved), and by snapshot.
    const ways = { ram: { suspend: [] as number[], resume: [] as number[] }, snapshot: { suspend: [] as number[], resume: [] as number[] } };
    for (let i = 0; i < runs; i++) {
      for (const way of ['ram', 'snapshot'] as const) {
        if (way === 'ram') delete process.env.GRAINCHART_RAM_FILES;
        else process.env.GRAINCHART_RAM_FILES = '0';
        for (const o of overlays) rmSync(o, { force: true });
        const t = await timeIt(() => upLab(lab, { quiet: true }));
        cold[way].push(t);
        ways[way].suspend.push(await timeIt(() => suspendLab(lab, quiet)));
        // resumeLab returns once every layer ran `uname -a` (and had its clock set): the deepest last.
        ways[way].resume.push(await timeIt(() => resumeLab(lab, { quiet: true })));
        await unameInDeepest();
        await downLab(lab, { force: true });
        console.error(
          `suspend ${s.lab} run ${i + 1} (${way}): cold ${t.toFixed(1)} s, suspend ${ways[way].suspend.at(-1)!.toFixed(2)} s, resume ${ways[way].resume.at(-1)!.toFixed(2)} s`,
        );
      }
    }
    delete process.env.GRAINCHART_RAM_FILES;
    const base = `kit: cold up ${s.lab} → ${s.deepest} uname, RAM QEMU's own (suspend bench)`;
    const snapSuspend = `suspend ${s.lab}, by snapshot (RAM not in a file)`;
    const snapResume = `resume ${s.lab} → ${s.deepest} uname, by snapshot`;
    return [
      { name: base, samples: cold.snapshot, goal: s.goals.cold },
      { name: `cold up ${s.lab}, RAM in a tmpfs file`, samples: cold.ram, baseline: base, goal: '≤ 1.05×' },
      { name: snapSuspend, samples: ways.snapshot.suspend, baseline: base },
      { name: snapResume, samples: ways.snapshot.resume, baseline: base },
      { name: `suspend ${s.lab}, devices + RAM copy (RAM in a file)`, samples: ways.ram.suspend, baseline: snapSuspend, goal: s.goals.suspend },
      { name: `resume ${s.lab} → ${s.deepest} uname, from the RAM file`, samples: ways.ram.resume, baseline: snapResume, goal: s.goals.resume },
    ];
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
