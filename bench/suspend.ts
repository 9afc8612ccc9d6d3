// suspend: the embedded demo lab (host → L1 → L2) brought back by `resume` against a cold
// `up`, each until L2 answers `uname -a` over SSH (resumeLab runs it in every layer as it
// sets the clocks), alternating in one run; and how long `suspend` takes.  In-process, as bench/nested.ts times its cold up: the same code the
// tasks run, without the process start every task pays.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveLab, findVm } from '../tasks/kit/resolve.ts';
import { localHostFacts, readLabInput } from '../tasks/kit/load.ts';
import { kitPaths } from '../tasks/kit/paths.ts';
import { connectPlace } from '../tasks/kit/target.ts';
import { downLab, upLab } from '../tasks/lab.ts';
import { resumeLab, suspendLab } from '../tasks/suspend/ops.ts';
import { timeIt, type Row } from './stats.ts';

const quiet = { info: () => undefined, warn: () => undefined };

export async function benchSuspend(runs = 5): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-susp-'));
  process.env.GRAINCHART_HOME = home;
  try {
    const input = (await readLabInput('demo')).input as { vms: Array<{ network: { sshPort: number } }> };
    input.vms[0]!.network.sshPort = 10822;
    const lab = resolveLab(input, localHostFacts(), 'bench');
    const l2 = findVm(lab, 'l2')!;
    const overlay = join(kitPaths(lab.name, 'l1').vm.dir, 'root.qcow2');
    const unameInL2 = async () => {
      const g = await connectPlace(lab, l2, 30_000);
      try {
        await g.succeed('uname -a');
      } finally {
        g.close();
      }
    };
    const cold: number[] = [];
    const suspend: number[] = [];
    const resume: number[] = [];
    for (let i = 0; i < runs; i++) {
      rmSync(overlay, { force: true });
      cold.push(await timeIt(() => upLab(lab, { quiet: true })));
      suspend.push(await timeIt(() => suspendLab(lab, quiet)));
      // resumeLab returns once every layer ran `uname -a` (and had its clock set): L2 last.
      resume.push(await timeIt(() => resumeLab(lab, { quiet: true })));
      await unameInL2();
      await downLab(lab, { force: true });
    }
    return [
      { name: 'kit: cold up demo → L2 uname (suspend bench)', samples: cold },
      { name: 'suspend demo (live save of L1 with L2 inside, QEMU ended)', samples: suspend, baseline: 'kit: cold up demo → L2 uname (suspend bench)', goal: '≤ 2 s' },
      { name: 'resume demo → L2 uname', samples: resume, baseline: 'kit: cold up demo → L2 uname (suspend bench)', goal: '≤ 2.0 s, ≤ 0.12×' },
    ];
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
