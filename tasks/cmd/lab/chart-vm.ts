// `chart-vm VM|LAB`: the resource card of one VM, or one card per VM of a lab, grouped
// by layer, from live statistics.  `--json` prints the statistics behind the bars.
// A lab's statistics come from its lab agent when one runs (warm SSH sessions); else they
// are sampled here, and an agent is left behind for the next chart.  The agent is asked
// first, before the spec is even loaded: both take a few hundred milliseconds, so they overlap.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TaskContext } from '../../cli/registry.ts';
import type { LabResolved } from '../../spec/tree.ts';
import type { VmStats } from '../../stats/figures.ts';
import { AGENT_WAIT_MS, agentEnabled, agentPaths, askAgent, plainName, startAgent, type StatsRequest } from '../../agent/client.ts';
import { agentLabOf } from '../../agent/exec-client.ts';
import { UsageError } from '../../util/errors.ts';

/** The one-shot CPU window: long enough for ~60 guest ticks at HZ 250, short enough to answer within a second. */
const DEFAULT_SAMPLE_MS = 250;

export async function run(ctx: TaskContext): Promise<void> {
  const name = ctx.args[0];
  const sampleMs = ctx.opts['sample-ms'] === undefined ? DEFAULT_SAMPLE_MS : Number(ctx.opts['sample-ms']);
  if (!Number.isInteger(sampleMs) || sampleMs < 50 || sampleMs > 10_000)
    throw new UsageError(`--sample-ms takes whole milliseconds from 50 to 10000, got ${JSON.stringify(ctx.opts['sample-ms'])}`);
  // A spec on stdin cannot be read again by an agent: those charts sample here only.
  const useAgent = ctx.spec !== '-' && ctx.opts['no-agent'] !== true && agentEnabled();
  const spec = ctx.spec ? resolve(ctx.spec) : undefined;
  const guess = useAgent && name && !ctx.opts.lab ? guessStatsRequest(name, sampleMs, spec) : undefined;
  const early = guess ? { lab: guess.lab, req: guess.req, answer: askAgent(guess.lab, guess.req, AGENT_WAIT_MS) } : undefined;

  const [{ listLabs, loadLab, loadVm }, { renderCard, renderCards }, { options }] = await Promise.all([
    import('../../spec/load.ts'),
    import('../../chart/card.ts'),
    import('../../chart/cli-options.ts'),
  ]);
  const o = options(ctx);
  const sample = async (lab: LabResolved, only?: string[]): Promise<VmStats[]> => {
    const req: StatsRequest = { op: 'stats', only, sampleMs, spec };
    // The early answer counts only when it was for what the spec says this name is.
    if (early && early.lab === lab.name && JSON.stringify(early.req) === JSON.stringify(req)) {
      const warm = await early.answer;
      if (warm) return warm;
    } else if (useAgent) {
      const warm = await askAgent(lab.name, req, AGENT_WAIT_MS);
      if (warm) return warm;
    }
    const { collectStats } = await import('../../stats/stats.ts');
    const stats = await collectStats(lab, only, { sampleMs });
    if (useAgent && stats.some((s) => s.state === 'running')) startAgent(lab.name, spec);
    return stats;
  };
  /** nixos-test is both a lab and its only VM: then it charts the VM. */
  const isAlsoVm = (n: string) =>
    loadVm(n).then(
      () => true,
      () => false,
    );

  // A lab's name charts the lab; anything else is a VM's name.
  if (name && !ctx.opts.lab && !ctx.spec && listLabs().includes(name) && !(await isAlsoVm(name))) {
    const stats = await sample(await loadLab(name));
    return ctx.out.result(stats, () => renderCards(stats, o));
  }
  if (!name) {
    const stats = await sample(await loadLab(undefined, { spec: ctx.spec }));
    return ctx.out.result(stats, () => renderCards(stats, o));
  }
  const { lab, place } = await loadVm(name, { spec: ctx.spec, lab: ctx.opts.lab as string | undefined });
  const [stats] = await sample(lab, [place.vm.name]);
  ctx.out.result(stats, () => renderCard(stats!, o));
}

/**
 * What the agent would be asked for `name`, guessed from the state folder alone (no spec
 * loaded yet): a lab with a live agent socket, or the one lab whose folder holds a VM of that name.
 */
function guessStatsRequest(name: string, sampleMs: number, spec?: string): { lab: string; req: StatsRequest } | undefined {
  if (!plainName(name)) return undefined;
  if (!spec && existsSync(agentPaths(name).sock)) return { lab: name, req: { op: 'stats', only: undefined, sampleMs, spec } };
  const lab = agentLabOf(name);
  return lab ? { lab, req: { op: 'stats', only: [name], sampleMs, spec } } : undefined;
}
