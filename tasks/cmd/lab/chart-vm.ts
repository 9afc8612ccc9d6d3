// `chart-vm VM|LAB`: the resource card of one VM, or one card per VM of a lab, grouped
// by layer, from live statistics.  `--json` prints the statistics behind the bars.
// A lab's statistics come from its lab agent when one runs (warm SSH sessions); else they
// are sampled here, and an agent is left behind for the next chart.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TaskContext } from '../../cli/registry.ts';
import type { VmStats } from '../../stats/figures.ts';
import { AGENT_WAIT_MS, agentEnabled, callerSpecs, agentLabForSpec, agentPaths, askAgent, askChart, plainName, startAgent } from '../../agent/client.ts';
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
  // The agent that may serve this name, found from the state folder alone, is asked first: it
  // decides what the name charts as this task would (stats/chart-target.ts), so a warm chart
  // loads no spec here.
  const guess = useAgent && !ctx.opts.lab ? (name ? guessLab(name, spec) : spec ? agentLabForSpec(spec) : undefined) : undefined;
  const chart = { op: 'stats' as const, chart: name ? { name } : {}, sampleMs, spec, specs: callerSpecs() };
  const early = guess ? askChart(guess, chart, AGENT_WAIT_MS) : undefined;
  const [{ renderCard, renderCards }, { options }] = await Promise.all([import('../../chart/card.ts'), import('../../chart/cli-options.ts')]);
  const o = options(ctx);
  const show = (kind: 'lab' | 'vm', stats: VmStats[]) =>
    kind === 'lab' ? ctx.out.result(stats, () => renderCards(stats, o)) : ctx.out.result(stats[0], () => renderCard(stats[0]!, o));
  const warm = await early;
  if (warm) return show(warm.kind, warm.stats);

  const { chartTarget } = await import('../../stats/chart-target.ts');
  const { lab, kind, only } = await chartTarget(name, { spec: ctx.spec, lab: ctx.opts.lab as string | undefined });
  const asked = useAgent && lab.name !== guess ? await askAgent(lab.name, { op: 'stats', only, sampleMs, spec }, AGENT_WAIT_MS) : undefined;
  if (asked) return show(kind, asked);
  const { collectStats } = await import('../../stats/stats.ts');
  const stats = await collectStats(lab, only, { sampleMs });
  // An agent is left behind for the next chart.
  if (useAgent && stats.some((s) => s.state === 'running')) startAgent(lab.name, spec);
  show(kind, stats);
}

/**
 * The lab whose agent may chart `name`, guessed from the state folder alone (no spec loaded):
 * a lab with a live agent socket, or the one lab whose folder holds a VM of that name.
 */
function guessLab(name: string, spec?: string): string | undefined {
  if (!plainName(name)) return undefined;
  if (!spec && existsSync(agentPaths(name).sock)) return name;
  return agentLabOf(name);
}
