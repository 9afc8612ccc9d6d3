// `demo`, the README's main command: build the tiny image if needed, boot the demo lab's L1
// guest, run `uname -a` in it, print the status, and stop it again (a VM that was already
// running is left running).  Nesting L2 inside L1 arrives with the up/nest tasks.
import type { TaskContext } from './kit/registry.ts';
import { loadLab } from './kit/load.ts';
import { findVm } from './kit/resolve.ts';
import { kitPaths } from './kit/paths.ts';
import { buildTinyImage } from './image/build.ts';
import { bootVm } from './kit/launch.ts';
import { connectGuest } from './kit/target.ts';
import { liveStatus, readPidfile } from './kit/vm-state.ts';
import { stopQemu } from './kit/shutdown.ts';
import { updateState } from './kit/vm-state.ts';
import { labStatus, renderStatus } from './status.ts';
import { labTree } from './kit/describe.ts';
import { renderTree } from './chart/tree.ts';

export async function run(ctx: TaskContext): Promise<void> {
  const lab = await loadLab('demo', { spec: ctx.spec });
  const place = findVm(lab, lab.vms[0]!.name)!;
  const target = { lab, place, paths: kitPaths(lab.name, place.vm.name) };
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const lap = (name: string, since: number) => (timings[name] = Math.round((Date.now() - since) / 10) / 100);

  let t = Date.now();
  const img = await buildTinyImage({ quiet: ctx.quiet });
  lap(img.cached ? 'image (cached)' : 'image build', t);

  const before = await liveStatus(target.paths.vm, { lab: lab.name, name: place.vm.name, depth: 1 });
  const weStarted = before.state !== 'running';
  t = Date.now();
  if (weStarted) await bootVm(lab, place, { quiet: ctx.quiet, warn: ctx.out.warn });
  else ctx.out.info(`${place.vm.name} is already running; using it and leaving it up`);
  lap('boot to SSH', t);

  try {
    t = Date.now();
    const guest = await connectGuest(target);
    const uname = await guest.succeed('uname -a').finally(() => guest.close());
    lap('exec uname -a', t);
    const rows = await labStatus(lab);
    const report = { lab: lab.name, image: { hash: img.hash, cached: img.cached }, uname: uname.trim(), status: rows, timings };
    ctx.out.result(report, () =>
      [
        renderTree([labTree(lab)]),
        '',
        `${place.vm.name}$ uname -a`,
        uname.trim(),
        '',
        renderStatus(rows),
      ].join('\n'),
    );
  } finally {
    if (weStarted) {
      t = Date.now();
      await stopQemu(target.paths.vm, readPidfile(target.paths.vm), { graceful: true });
      updateState(target.paths.vm, { phase: 'stopped', stoppedAt: new Date().toISOString(), pid: undefined });
      lap('stop', t);
    }
    lap('total', t0);
    ctx.out.info(`timings: ${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(' · ')}`);
    ctx.out.info(`next: nesting ${place.vm.children.map((c) => c.name).join(', ') || 'children'} inside ${place.vm.name} comes with the up/nest tasks`);
  }
}
