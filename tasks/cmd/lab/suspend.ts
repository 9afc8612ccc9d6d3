// `suspend LAB` and `resume LAB`: a whole nested lab saved and back in seconds (suspend/ops.ts).
import type { TaskContext } from '../../cli/registry.ts';
import { loadLab } from '../../spec/load.ts';
import { withLabLock } from '../../lab/lock.ts';
import { renderStatus } from '../../chart/status-table.ts';
import { keepAgent } from '../../agent/client.ts';

export async function suspend(ctx: TaskContext): Promise<void> {
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  const t0 = Date.now();
  // Each task loads only its own half: a suspend needs none of what boots a VM.
  const { suspendLab } = await import('../../suspend/ops.ts');
  const steps = await withLabLock(lab.name, 'suspend', () => suspendLab(lab, ctx.out), { say: ctx.out.info });
  const seconds = (Date.now() - t0) / 1000;
  ctx.out.result({ lab: lab.name, seconds, steps }, () =>
    [
      ...steps.map(
        (s) =>
          `${s.vm}: ${s.managed ? 'saved by libvirt (managed save)' : `saved as ${s.snapshot}`} in ${s.saveS.toFixed(2)} s, QEMU ended in ${s.stopS.toFixed(2)} s`,
      ),
      `${lab.name} suspended in ${seconds.toFixed(1)} s (children inside their parents); resume: npx tsx tasks.ts resume ${lab.name}`,
    ].join('\n'),
  );
}

export async function resume(ctx: TaskContext): Promise<void> {
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  const { resumeLab } = await import('../../suspend/resume.ts');
  const t0 = Date.now();
  const r = await withLabLock(
    lab.name,
    'resume',
    () => resumeLab(lab, { quiet: ctx.quiet, warn: ctx.out.warn, info: ctx.out.info, keep: ctx.opts.keep === true }),
    { say: ctx.out.info },
  );
  keepAgent(lab.name, ctx.spec);
  const seconds = (Date.now() - t0) / 1000;
  const rows = r.status;
  ctx.out.result({ lab: lab.name, seconds, steps: r.steps, layers: r.layers, status: rows }, () =>
    [
      ...r.steps.map(
        (s) =>
          `${s.vm}: resumed from ${s.managed ? 'its managed save' : s.snapshot} in ${s.seconds.toFixed(1)} s${ctx.opts.keep === true && !s.managed ? ' (snapshot kept)' : ''}`,
      ),
      ...r.layers.map((l) => `${l.vm}: answers at ${l.readyS.toFixed(1)} s; clock set (was ${l.clockBehindS} s behind)`),
      `${lab.name} resumed in ${seconds.toFixed(1)} s`,
      '',
      renderStatus(rows),
    ].join('\n'),
  );
}
