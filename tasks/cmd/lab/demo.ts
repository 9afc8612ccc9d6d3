// `demo`, the README's main command: bring the embedded demo lab up (host → L1 → L2),
// run `uname -a` in every layer, draw the hierarchy with live states, and bring down what
// it started — with a summary of timings.  VMs already running are used and left running.
import type { TaskContext } from '../../cli/registry.ts';
import { loadLab } from '../../spec/load.ts';
import { walkVms } from '../../spec/tree.ts';
import { connectPlace } from '../../vm/target.ts';
import { labStatus } from '../../lab/status.ts';
import { downLab } from '../../lab/down.ts';
import { upLab } from '../../lab/up.ts';
import { hostTotals, renderLabTree, treeData } from '../../chart/lab-charts.ts';
import { chartOptions } from '../../chart/style.ts';
import { probeHost } from '../../qemu/host-probe.ts';

export async function run(ctx: TaskContext): Promise<void> {
  const lab = await loadLab('demo', { spec: ctx.spec });
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const lap = (name: string, since: number) => (timings[name] = Math.round((Date.now() - since) / 10) / 100);
  const before = new Map((await labStatus(lab)).map((r) => [r.name, r.state]));

  let t = Date.now();
  const steps = await upLab(lab, { quiet: ctx.quiet, warn: ctx.out.warn });
  lap('up', t);
  for (const s of steps) if (s.action === 'booted') timings[`${s.vm} boot`] = Math.round(s.seconds * 100) / 100;
  try {
    t = Date.now();
    const unames: Array<{ vm: string; depth: number; uname: string; hypervisor: string }> = [];
    for (const place of walkVms(lab.vms)) {
      const g = await connectPlace(lab, place);
      try {
        const uname = (await g.succeed('uname -a')).trim();
        // The kernel names the hypervisor it finds: KVM, or none under TCG.
        const hv = (await g.exec("dmesg | sed -n 's/.*Hypervisor detected: //p' | head -1")).stdout.trim();
        unames.push({ vm: place.vm.name, depth: place.depth, uname, hypervisor: hv || 'none (TCG)' });
      } finally {
        g.close();
      }
    }
    lap('exec in every layer', t);
    const [rows, probe] = await Promise.all([labStatus(lab), probeHost()]);
    const report = { lab: lab.name, layers: unames, status: rows, timings };
    ctx.out.result(report, () =>
      [
        ...unames.map(
          (u) =>
            `${'  '.repeat(u.depth - 1)}${u.vm}$ uname -a\n${'  '.repeat(u.depth - 1)}${u.uname}\n${'  '.repeat(u.depth - 1)}(hypervisor seen by ${u.vm}: ${u.hypervisor})`,
        ),
        '',
        'VM Hierarchy:',
        renderLabTree(treeData(lab, hostTotals(lab, probe), rows), chartOptions()),
      ].join('\n'),
    );
  } finally {
    // Only what this run started goes down again.
    const started = steps.filter((s) => s.action === 'booted').map((s) => s.vm);
    if (started.length && [...before.values()].every((s) => s !== 'running')) {
      t = Date.now();
      await downLab(lab);
      lap('down', t);
    } else if (started.length)
      ctx.out.info(
        `left running: the lab was partly up before (${[...before]
          .filter(([, s]) => s === 'running')
          .map(([n]) => n)
          .join(', ')})`,
      );
    lap('total', t0);
    ctx.out.info(
      `timings: ${Object.entries(timings)
        .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
        .join(' · ')}`,
    );
  }
}
