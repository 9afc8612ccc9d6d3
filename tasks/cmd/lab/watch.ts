// `watch [LAB]`: refresh every N seconds, like virt-top or incus top, with a sparkline of
// the last minute of CPU and memory per VM.  `--json` streams one JSON object per sample
// (JSON Lines).  Ends on Ctrl-C or after --count samples.  The lab's agent answers each
// sample when it runs; else this process reads them, its SSH sessions open between samples.
import type { TaskContext } from '../../cli/registry.ts';
import { loadLab } from '../../spec/load.ts';
import { collectStats } from '../../stats/stats.ts';
import { SampleMemo } from '../../stats/memo.ts';
import type { VmStats } from '../../stats/figures.ts';
import { SessionPool } from '../../vm/session-pool.ts';
import { chartOptions, glyphs, type ChartOptions } from '../../chart/style.ts';
import { renderTable } from '../../chart/table.ts';
import { sparkline } from '../../chart/sparkline.ts';
import { formatBytes, MiB } from '../../spec/size.ts';
import { UsageError } from '../../util/errors.ts';
import { AGENT_WAIT_MS, agentEnabled, askAgent } from '../../agent/client.ts';
import { resolve } from 'node:path';

/**
 * The CPU window asked of the lab agent: it keeps a start-of-window reading about every second
 * while someone charts, so the answer comes at once and covers about the last second (read
 * here, a figure covers the whole interval since the last sample).
 */
const AGENT_WINDOW_MS = 1000;

export interface History {
  cpu: Array<number | undefined>;
  mem: Array<number | undefined>;
}

/** One sample's table: per VM its state, CPU and memory now, and their last minute. */
export function renderWatch(stats: VmStats[], history: Map<string, History>, o: ChartOptions, cells: number): string {
  const rows = stats.map((s) => {
    const g = s.guest.ok ? s.guest.value : undefined;
    const h = history.get(s.name) ?? { cpu: [], mem: [] };
    const memPct = g ? ((g.memTotalMiB - g.memAvailableMiB) / g.memTotalMiB) * 100 : undefined;
    return [
      `${'  '.repeat(s.depth - 1)}${s.name}`,
      s.state,
      g ? `${g.cpuBusyPercent.toFixed(0)}%` : '?',
      sparkline(h.cpu, cells, o, { min: 0, max: 100 }),
      memPct !== undefined ? `${memPct.toFixed(0)}%` : '?',
      sparkline(h.mem, cells, o, { min: 0, max: 100 }),
      s.host.ok ? `${s.host.value.cpuPercent.toFixed(0)}%` : '?',
      s.host.ok ? formatBytes(s.host.value.rssMiB * MiB) : '?',
      s.guest.ok ? '' : s.guest.reason,
    ];
  });
  return renderTable(
    [
      { header: 'VM' },
      { header: 'STATE' },
      { header: 'CPU', align: 'right' },
      { header: 'CPU, last minute' },
      { header: 'MEM', align: 'right' },
      { header: 'MEM, last minute' },
      { header: 'QEMU', align: 'right' },
      { header: 'RSS', align: 'right' },
      { header: '' },
    ],
    rows,
    o,
  );
}

export async function run(ctx: TaskContext): Promise<void> {
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  const interval = ctx.opts.interval === undefined ? 2 : Number(ctx.opts.interval);
  if (!Number.isFinite(interval) || interval < 1 || interval > 3600)
    throw new UsageError(`--interval takes seconds from 1 to 3600, got ${JSON.stringify(ctx.opts.interval)}`);
  const count = ctx.opts.count === undefined ? Infinity : Number(ctx.opts.count);
  if (count !== Infinity && (!Number.isInteger(count) || count < 1))
    throw new UsageError(`--count takes a whole number of samples, got ${JSON.stringify(ctx.opts.count)}`);
  const o = chartOptions({ ascii: ctx.opts.ascii === true });
  const cells = Math.max(5, Math.min(30, Math.round(60 / interval)));
  const history = new Map<string, History>();
  const pool = new SessionPool();
  // A spec on stdin cannot be read again by an agent: that watch samples here only.
  const useAgent = ctx.spec !== '-' && agentEnabled();
  const spec = ctx.spec ? resolve(ctx.spec) : undefined;
  // After the first sample, each CPU figure covers the whole interval since the last one.
  const memo = new SampleMemo((interval + 10) * 1000);
  let stop = false;
  let wake: () => void = () => {};
  const onSigint = () => {
    stop = true;
    wake();
  };
  process.once('SIGINT', onSigint);
  try {
    for (let n = 0; n < count && !stop; n++) {
      const t0 = Date.now();
      // The lab's agent answers from its open sessions (one reading serves every watch and chart); else read here.
      const stats =
        (useAgent ? await askAgent(lab.name, { op: 'stats', sampleMs: AGENT_WINDOW_MS, spec }, AGENT_WAIT_MS) : undefined) ??
        (await collectStats(lab, undefined, { pool, memo }));
      for (const s of stats) {
        const h = history.get(s.name) ?? { cpu: [], mem: [] };
        const g = s.guest.ok ? s.guest.value : undefined;
        h.cpu = [...h.cpu, g?.cpuBusyPercent].slice(-cells);
        h.mem = [...h.mem, g ? ((g.memTotalMiB - g.memAvailableMiB) / g.memTotalMiB) * 100 : undefined].slice(-cells);
        history.set(s.name, h);
      }
      if (ctx.json) process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), lab: lab.name, vms: stats })}\n`);
      else {
        const screen = `${lab.name}${glyphs(o).sep}every ${interval} s${glyphs(o).sep}${new Date().toLocaleTimeString()}${glyphs(o).sep}Ctrl-C to end\n\n${renderWatch(stats, history, o, cells)}\n`;
        // On a terminal, redraw in place; elsewhere, one block per sample.
        process.stdout.write(process.stdout.isTTY ? `\u001b[H\u001b[2J${screen}` : `${screen}\n`);
      }
      if (n + 1 >= count || stop) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, interval * 1000 - (Date.now() - t0)));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGINT', onSigint);
    pool.closeAll();
  }
}
