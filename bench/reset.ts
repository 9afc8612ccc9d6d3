// reset: put a running tiny guest back to its golden snapshot (live snapshot-load, VM state
// included) against the other way to a known state, a reboot (stop, then boot to SSH).
// Both end with `uname -a` answering over SSH, so both rows mean "usable again".
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveLab } from '../tasks/spec/resolve.ts';
import { findVm } from '../tasks/spec/tree.ts';
import { localHostFacts } from '../tasks/spec/load.ts';
import { bootVm } from '../tasks/vm/boot.ts';
import { hostMachine } from '../tasks/machine/host.ts';
import { kitPaths } from '../tasks/util/paths.ts';
import { stopQemu } from '../tasks/vm/stop.ts';
import { readPidfile } from '../tasks/qemu/process.ts';
import { connectPlace } from '../tasks/vm/target.ts';
import { openSite } from '../tasks/snapshot/site.ts';
import { LabRuntime } from '../tasks/vm/runtime.ts';
import { loadSnapshot, saveSnapshot } from '../tasks/snapshot/ops.ts';
import { timeIt, type Row } from './stats.ts';

export async function benchReset(runs = 5, port = 10523): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-reset-'));
  process.env.GRAINCHART_HOME = home;
  const lab = resolveLab(
    { name: 'bench', vms: [{ name: 'r1', cpus: 1, memory: 512, boot: { image: 'tiny' }, network: { sshPort: port } }] },
    localHostFacts(),
    'bench',
  );
  const place = findVm(lab, 'r1')!;
  const paths = kitPaths('bench', 'r1');
  const parents = new LabRuntime(lab);
  const uname = async () => {
    const g = await connectPlace(lab, place);
    try {
      await g.succeed('uname -a');
    } finally {
      g.close();
    }
  };
  try {
    await bootVm(hostMachine, lab, place, { quiet: true });
    await saveSnapshot(await openSite(lab, place, parents), 'golden');
    const restore: number[] = [];
    const restoreSsh: number[] = [];
    const reboot: number[] = [];
    for (let i = 0; i < runs; i++) {
      const site = await openSite(lab, place, parents);
      restore.push(await timeIt(() => loadSnapshot(site, 'golden')));
      restoreSsh.push(
        await timeIt(async () => {
          await loadSnapshot(await openSite(lab, place, parents), 'golden');
          await uname();
        }),
      );
      reboot.push(
        await timeIt(async () => {
          await stopQemu(hostMachine, hostMachine.ref(lab, place), readPidfile(paths.vm), { graceful: false });
          await bootVm(hostMachine, lab, place, { quiet: true });
        }),
      );
    }
    return [
      { name: 'reboot (stop, boot → uname)', samples: reboot },
      { name: 'restore golden (live snapshot-load)', samples: restore, baseline: 'reboot (stop, boot → uname)', goal: '≤ 0.3 s' },
      { name: 'restore golden → uname over SSH', samples: restoreSsh, baseline: 'reboot (stop, boot → uname)' },
    ];
  } finally {
    parents.close();
    await stopQemu(hostMachine, hostMachine.ref(lab, place), readPidfile(paths.vm), { graceful: false }).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  }
}
