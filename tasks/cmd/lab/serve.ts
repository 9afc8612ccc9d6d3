// `serve [LAB]`: the lab's live dashboard in the browser and its /metrics, on 127.0.0.1.
// The URL (with its token) is the first line of stdout — `--json`: {url, token, port} — so a
// script can read it and go on; the server runs until Ctrl-C or SIGTERM, and ends cleanly.
import { resolve } from 'node:path';
import type { TaskContext } from '../../cli/registry.ts';
import { loadLab } from '../../spec/load.ts';
import { UsageError } from '../../util/errors.ts';
import { LabReader, labStats } from '../../serve/reader.ts';
import { readShape } from '../../serve/shape.ts';
import { startServer } from '../../serve/server.ts';
import { newToken } from '../../serve/auth.ts';

function portOf(raw: unknown): number {
  if (raw === undefined) return 0;
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || n < 1 || n > 65535)
    throw new UsageError(`--port takes a port from 1 to 65535, got ${JSON.stringify(raw)}`);
  return n;
}

function intervalOf(raw: unknown): number {
  if (raw === undefined) return 1500;
  const s = Number(raw);
  if (typeof raw !== 'string' || !Number.isFinite(s) || s < 1 || s > 10)
    throw new UsageError(`--interval takes seconds from 1 to 10, got ${JSON.stringify(raw)}`);
  return Math.round(s * 1000);
}

export async function run(ctx: TaskContext): Promise<void> {
  const port = portOf(ctx.opts.port);
  const intervalMs = intervalOf(ctx.opts.interval);
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  const spec = ctx.spec && ctx.spec !== '-' ? resolve(ctx.spec) : ctx.spec;
  const source = labStats(lab, spec, intervalMs);
  // A failing reading is said once until one succeeds again: a lab that is down is not news every second.
  let lastError = '';
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const reader = new LabReader(lab, source.read, intervalMs, (err) => {
    const msg = err.message.split('\n')[0]!;
    if (msg !== lastError) log(`serve: a reading failed: ${msg}`);
    lastError = msg;
  });
  const served = await startServer({ reader, shape: (f) => readShape(lab, f), port, token: newToken(), log }).catch((err: NodeJS.ErrnoException) => {
    source.close();
    if (err.code === 'EADDRINUSE')
      throw new UsageError(`--port ${port}: 127.0.0.1:${port} is taken`, 'choose another port, or leave --port out for a free one');
    throw err;
  });
  process.stdout.write(`${ctx.json ? JSON.stringify({ url: served.url, token: served.token, port: served.port }) : served.url}\n`);
  log(`serve: lab ${lab.name} on ${served.url.replace(/\?token=.*/, '')} (a reading every ${intervalMs / 1000} s while someone watches); Ctrl-C ends`);
  await new Promise<void>((done) => {
    const end = (sig: NodeJS.Signals) => {
      process.off('SIGINT', end);
      process.off('SIGTERM', end);
      log(`serve: ${sig}, ending`);
      done();
    };
    process.once('SIGINT', end);
    process.once('SIGTERM', end);
  });
  await served.close();
  source.close();
}
