// `smoke LAB`: a CI smoke test against a real (nested) lab.  Up (or --reuse what runs),
// snapshot a golden state, run each VM's checks — host checks first, then layer by layer,
// the VMs of one layer in parallel — resetting a VM to the golden state before its suite
// with --reset, then clean up: the golden snapshot removed and the lab down, always, even
// on a failure or Ctrl-C.  JUnit XML (--junit FILE) and TAP (--tap) for CI; exit 0 only
// when every check passes.
import { withRuntime } from '../../vm/runtime.ts';
import { withLabLock } from '../../lab/lock.ts';
import { renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ListrTask } from 'listr2';
import type { TaskContext } from '../../cli/registry.ts';
import { UsageError } from '../../util/errors.ts';
import { outputFileProblem } from '../../util/file-checks.ts';
import { loadLab } from '../../spec/load.ts';
import { walkVms, type LabResolved, type VmPlace } from '../../spec/tree.ts';
import { connectPlace } from '../../vm/target.ts';
import { progressList } from '../../cli/progress.ts';
import { downLab } from '../../lab/down.ts';
import { upLab } from '../../lab/up.ts';
import { removeAll, restoreAll, saveAll } from '../../snapshot/many.ts';
import { startFrom } from '../../suspend/resume.ts';
import { snapshotNameOption } from '../../snapshot/names.ts';
import { checkName, failedSuite, REACH_MS, runHostCheck, runVmCheck, type CheckResult } from '../../smoke/checks.ts';
import { junitXml, tap } from '../../smoke/report.ts';
import { writeReport } from './doc.ts';

const quietLog = { info: () => undefined, warn: () => undefined };

export interface SmokeSummary {
  lab: string;
  passed: number;
  failed: number;
  total: number;
  seconds: number;
  golden?: string;
  results: CheckResult[];
  cleanup: string[];
}

/** --junit FILE / --html FILE: checked before anything boots (or the lab's lock is taken). */
function outputPath(ctx: TaskContext, flag: 'junit' | 'html'): string | undefined {
  const f = ctx.opts[flag];
  if (f === undefined) return undefined;
  if (typeof f !== 'string' || !f) throw new UsageError(`--${flag} needs a file name`);
  const file = resolve(f);
  const problem = outputFileProblem(file);
  if (problem) throw new UsageError(`--${flag} ${file}: ${problem}`);
  return file;
}

export async function smoke(ctx: TaskContext): Promise<number> {
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  const files = { junit: outputPath(ctx, 'junit'), html: outputPath(ctx, 'html') };
  if (ctx.opts.tap === true && ctx.json) throw new UsageError('--tap and --json both want stdout; pick one');
  return withLabLock(lab.name, 'smoke', () => smokeLocked(ctx, lab, files), { say: ctx.out.info });
}

async function smokeLocked(ctx: TaskContext, lab: LabResolved, files: { junit?: string; html?: string }): Promise<number> {
  const { junit: junitFile, html: htmlFile } = files;
  const reuse = ctx.opts.reuse === true;
  const reset = ctx.opts.reset === true;
  const from = snapshotNameOption(ctx.opts, 'from');
  const places = [...walkVms(lab.vms)];
  const declared = lab.host.checks.length + places.reduce((n, p) => n + p.vm.checks.length, 0);
  if (!declared) ctx.out.warn(`lab ${lab.name} declares no checks (host.checks, or checks on a VM); nothing to test`);

  const t0 = Date.now();
  const results: CheckResult[] = [];
  const cleanup: string[] = [];
  let golden: string | undefined;

  // Ctrl-C: stop waiting for the checks, clean up, exit 130.  A second Ctrl-C exits at once.
  let interrupt: (e: Error) => void = () => undefined;
  const interrupted = new Promise<never>((_, reject) => (interrupt = reject));
  interrupted.catch(() => undefined);
  let sigints = 0;
  const onSigint = () => {
    if (++sigints > 1) process.exit(130);
    ctx.out.warn('interrupted: cleaning up (Ctrl-C again to leave the lab as it is)');
    interrupt(new UsageError('interrupted'));
  };
  process.on('SIGINT', onSigint);
  let wasInterrupted = false;
  try {
    await Promise.race([run(), interrupted]).catch((err) => {
      if ((err as Error).message === 'interrupted') wasInterrupted = true;
      else throw err;
    });
    // The lab report, each check's result on its VM, while the lab is still up.
    if (htmlFile && !wasInterrupted) {
      await Promise.race([writeReport(lab, { html: htmlFile }, results), interrupted])
        .then(() => ctx.out.info(`HTML report: ${htmlFile}`))
        .catch((err) => ctx.out.warn(`could not write the HTML report: ${(err as Error).message}`));
    }
  } finally {
    // Always: the golden snapshot off the disks, the lab down (unless --reuse).
    if (golden) {
      const name = golden;
      await withRuntime(lab, (parents) => removeAll(lab, places, parents, name))
        .then(() => cleanup.push(`golden snapshot ${name} removed`))
        .catch((err) => ctx.out.warn(`could not remove the golden snapshot ${name}: ${(err as Error).message}`));
    }
    if (!reuse) {
      // downLab takes a child down with a parent that stops answering; any other failure of
      // the graceful down must not leave the lab running either: then down again by force,
      // which ends the top-level QEMUs through their QMP and signals, with no session needed.
      const steps = await downLab(lab).catch((err) => {
        ctx.out.warn(`down ${lab.name} failed (${(err as Error).message}); bringing it down by force`);
        return downLab(lab, { force: true }).catch((again) => {
          ctx.out.warn(`down --force ${lab.name} failed too: ${(again as Error).message}`);
          return [];
        });
      });
      cleanup.push(`${lab.name} down: ${steps.map((s) => `${s.vm} ${s.how}`).join(', ')}`);
    }
    process.off('SIGINT', onSigint);
  }

  async function run(): Promise<void> {
    const list = progressList<Record<string, never>>(
      [
        {
          title: from ? `${lab.name} from ${from}` : reuse ? `reuse ${lab.name} (up what is not running)` : `up ${lab.name}`,
          task: async (_, task) => {
            if (from) await startFrom(lab, from, { quiet: true, warn: ctx.out.warn });
            const steps = await upLab(lab, { quiet: true, warn: ctx.out.warn });
            task.title = `${lab.name} up: ${steps.map((s) => `${s.vm} ${s.action}${s.action === 'booted' ? ` in ${s.seconds.toFixed(1)} s` : ''}`).join(', ')}`;
          },
        },
        {
          title: 'golden snapshot of every VM',
          // --from: that snapshot is the golden state, and it is the user's to keep.
          skip: () => !!from,
          task: async (_, task) => {
            const steps = await withRuntime(lab, (parents) => saveAll(lab, places, parents, quietLog));
            golden = steps[0]?.name;
            task.title = `golden snapshot ${golden} (${steps.map((s) => `${s.vm} ${s.seconds.toFixed(1)} s`).join(', ')})`;
          },
        },
        ...(lab.host.checks.length ? [suiteTask('host', 0, () => hostSuite(lab))] : []),
        ...layers(places).map(
          ([depth, layer]): ListrTask<Record<string, never>> => ({
            title: `layer ${depth}: ${layer.map((p) => p.vm.name).join(', ')}`,
            task: (_, task) =>
              task.newListr(
                layer.filter((p) => p.vm.checks.length).map((p) => suiteTask(p.vm.name, depth, () => vmSuite(lab, p, reset ? (from ?? golden) : undefined))),
                { concurrent: true, exitOnError: false },
              ),
          }),
        ),
      ],
      { quiet: ctx.quiet },
    );
    try {
      await list.run();
    } catch (err) {
      // The lab did not come up or could not be snapshotted: every check not yet run fails with why.
      const ran = new Set(results.map((r) => `${r.suite}/${r.check}`));
      const why = `not run: ${(err as Error).message.split('\n')[0]}`;
      for (const c of lab.host.checks) if (!ran.has(`host/${c.name}`)) results.push(...failedSuite('host', 0, [c], why));
      for (const p of places)
        results.push(
          ...failedSuite(
            p.vm.name,
            p.depth,
            p.vm.checks.filter((c) => !ran.has(`${p.vm.name}/${checkName(c)}`)),
            why,
          ),
        );
      ctx.out.warn(why);
    }
  }

  function suiteTask(suite: string, layer: number, runSuite: () => Promise<CheckResult[]>): ListrTask<Record<string, never>> {
    return {
      title: `${suite}: checks`,
      task: async (_, task) => {
        const got = await runSuite().catch((err: Error) =>
          failedSuite(suite, layer, suite === 'host' ? lab.host.checks : places.find((p) => p.vm.name === suite)!.vm.checks, err.message),
        );
        results.push(...got);
        const bad = got.filter((r) => !r.ok);
        task.output = got.map((r) => `${r.ok ? 'pass' : 'FAIL'} ${r.check} (${r.seconds.toFixed(1)} s)${r.ok ? '' : `: ${r.message}`}`).join('\n');
        task.title = `${suite}: ${got.length - bad.length}/${got.length} checks passed`;
        if (bad.length) throw new Error(`${suite}: ${bad.map((b) => b.check).join(', ')} failed`);
      },
      rendererOptions: { persistentOutput: true },
    };
  }

  const seconds = (Date.now() - t0) / 1000;
  const passed = results.filter((r) => r.ok).length;
  const summary: SmokeSummary = { lab: lab.name, passed, failed: results.length - passed, total: results.length, seconds, golden, results, cleanup };
  if (junitFile) {
    // Written whole, then renamed: a CI step never reads half a report.
    writeFileSync(`${junitFile}.tmp`, junitXml(lab.name, results));
    renameSync(`${junitFile}.tmp`, junitFile);
    ctx.out.info(`JUnit report: ${junitFile}`);
  }
  if (ctx.opts.tap === true) process.stdout.write(`${tap(results)}\n`);
  else
    ctx.out.result(summary, () =>
      [
        ...results.map((r) => `${r.ok ? 'ok  ' : 'FAIL'} ${r.suite}: ${r.check} (${r.seconds.toFixed(1)} s)${r.ok ? '' : ` — ${r.message}`}`),
        `smoke ${lab.name}: ${passed}/${results.length} checks passed in ${seconds.toFixed(1)} s`,
      ].join('\n'),
    );
  if (wasInterrupted) return 130;
  return passed === results.length && results.length === declared ? 0 : 1;
}

async function hostSuite(lab: LabResolved): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const c of lab.host.checks) out.push(await runHostCheck(c));
  return out;
}

/** A VM's suite: back to the golden state first (with --reset), then its checks in order. */
async function vmSuite(lab: LabResolved, place: VmPlace, resetTo?: string): Promise<CheckResult[]> {
  if (resetTo) await withRuntime(lab, (parents) => restoreAll(lab, [place], parents, quietLog, resetTo));
  const g = await connectPlace(lab, place, REACH_MS);
  try {
    const out: CheckResult[] = [];
    for (const c of place.vm.checks) out.push(await runVmCheck(c, place.vm, place.depth, g));
    return out;
  } finally {
    g.close();
  }
}

function layers(places: VmPlace[]): Array<[number, VmPlace[]]> {
  const depths = [...new Set(places.map((p) => p.depth))].sort((a, b) => a - b);
  return depths.map((d) => [d, places.filter((p) => p.depth === d)] as [number, VmPlace[]]).filter(([, l]) => l.some((p) => p.vm.checks.length));
}
