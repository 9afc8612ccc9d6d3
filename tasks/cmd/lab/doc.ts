// `doc LAB`: a report of the lab in docs/labs/LAB.md and a self-contained LAB.html —
// hierarchy, allocation, network, each VM's parameters flow, snapshots and live stats —
// generated from the code that boots the VMs, so it cannot drift from them.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { TaskContext } from '../../cli/registry.ts';
import { loadLab } from '../../spec/load.ts';
import { PROJECT_ROOT } from '../../util/paths.ts';
import { UsageError } from '../../util/errors.ts';
import { checkOutputFolder } from '../../util/file-checks.ts';
import { gatherReport } from '../../doc/gather.ts';
import { reportHtml, reportMarkdown } from '../../doc/render.ts';
import type { LabResolved } from '../../spec/tree.ts';
import type { CheckResult } from '../../smoke/checks.ts';

/** Written whole, then renamed: a reader never sees half a report. */
function writeAtomically(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

export async function writeReport(lab: LabResolved, files: { md?: string; html?: string }, checks?: CheckResult[]): Promise<{ running: number }> {
  const r = await gatherReport(lab, { checks });
  if (files.md) writeAtomically(files.md, reportMarkdown(r));
  if (files.html) writeAtomically(files.html, reportHtml(r));
  return { running: r.vms.filter((v) => v.status.state === 'running').length };
}

export async function run(ctx: TaskContext): Promise<void> {
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  const outOpt = ctx.opts.out;
  if (outOpt !== undefined && (typeof outOpt !== 'string' || !outOpt)) throw new UsageError('--out needs a folder');
  const dir = resolve(typeof outOpt === 'string' ? outOpt : join(PROJECT_ROOT, 'docs', 'labs'));
  const files = { md: join(dir, `${lab.name}.md`), html: join(dir, `${lab.name}.html`) };
  checkOutputFolder('--out', dir, [`${lab.name}.md`, `${lab.name}.html`]);
  ctx.out.info(`gathering ${lab.name}: status, parameters, snapshots${'…'}`);
  const r = await writeReport(lab, files);
  ctx.out.result({ lab: lab.name, ...files, running: r.running }, `wrote ${files.md} and ${files.html} (${r.running} VM${r.running === 1 ? '' : 's'} running)`);
}
