// `lab-agent LAB` (hidden; started by up, resume and chart-vm): keeps the lab's SSH sessions
// open and answers on the lab's agent socket — stats for charts, rows for status, commands
// for `exec`, copies for `cp`.  See agent/client.ts for why.  One per lab: the pidfile is
// created exclusively; a stale one (its process gone) is taken over.
import { chmodSync, closeSync, mkdirSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { SpecChangedError, UsageError } from '../util/errors.ts';
import type { TaskContext } from '../cli/registry.ts';
import { loadLab } from '../spec/load.ts';
import { ensureSocketDir, kitPaths } from '../util/paths.ts';
import { walkVms, type LabResolved } from '../spec/tree.ts';
import { readState } from '../machine/record.ts';
import { runningQemuPid } from '../qemu/process.ts';
import { SessionPool } from '../vm/session-pool.ts';
import { collectStats, takeBaselines } from '../stats/stats.ts';
import { chartTarget } from '../stats/chart-target.ts';
import { SampleMemo } from '../stats/memo.ts';
import { labLocked } from '../lab/lock.ts';
import { labStatus } from '../lab/status.ts';
import { agentLogger } from './log.ts';
import { serveInVm } from './exec.ts';
import { agentPaths, agentPid, otherSpecs, type AgentReply, type AgentRequest, type CopyRequest, type ExecRequest } from './client.ts';

/** Idle this long (no request), the agent ends: GRAINCHART_AGENT_IDLE_S, default 10 minutes. */
const idleMs = () => 1000 * (Number(process.env.GRAINCHART_AGENT_IDLE_S) || 600);
const CHECK_MS = 5000;
/** After a chart, start-of-window readings are taken this often, for this long; a chart's window starts at the latest. */
const BASELINE_EVERY_MS = 1000;
const BASELINES_FOR_MS = 60_000;
const MEMO_MS = 2500;

export async function run(ctx: TaskContext): Promise<void> {
  const labName = ctx.args[0]!;
  const paths = agentPaths(labName);
  // From specs/, or the spec file chart-vm was given (not stdin: it is read again per request).
  const spec = ctx.spec && ctx.spec !== '-' ? resolve(ctx.spec) : undefined;
  const lab = await loadLab(spec ? undefined : labName, { spec }); // a bad name fails here, before anything is written
  if (lab.name !== labName) throw new UsageError(`${spec} holds lab ${lab.name}, not ${labName}`);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  if (!claimPidfile(labName, paths.pid)) return; // another agent serves this lab
  const log = agentLogger(paths.log);
  log(`started for ${spec ?? `specs/ lab ${labName}`}`);
  const pool = new SessionPool(log);
  // For a minute after a chart, a fresh start-of-window reading per VM about once a second:
  // the next chart's CPU window (the last second or so) is then open already and it need not
  // sleep one.  It costs each guest one small exec a second, and only while someone charts.
  const memo = new SampleMemo(MEMO_MS);
  let baselinesUntil = 0;
  let takingBaselines = false;
  let lastRequest = Date.now();
  let busy = 0;
  const callers = new Set<string>();
  ensureSocketDir(paths.sock);
  rmSync(paths.sock, { force: true });
  const server = createServer((conn) => {
    lastRequest = Date.now();
    busy++;
    serve(conn, labName, spec, pool, memo, log, callers, () => end('a spec file changed since it was read'))
      .then((op) => {
        // After a chart, the next one is likely: keep its CPU window open.  Not after a command.
        if (op === 'stats') baselinesUntil = Date.now() + BASELINES_FOR_MS;
      })
      .finally(() => {
        busy--;
        lastRequest = Date.now();
      });
  });
  let ended = false;
  const end = (why: string) => {
    if (ended) return;
    ended = true;
    log(`ending: ${why}`);
    clearInterval(watchdog);
    clearInterval(baselines);
    server.close();
    pool.closeAll();
    // Only our own files: a newer agent may have taken over after a takeover race.
    if (agentPid(labName) === process.pid) {
      rmSync(paths.sock, { force: true });
      rmSync(paths.pid, { force: true });
    }
    // The sessions' goodbyes are on their way; nothing else is left to wait for.
    setTimeout(() => process.exit(0), 50).unref();
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(paths.sock, () => resolve());
  });
  chmodSync(paths.sock, 0o600);
  warmSessions(lab, pool, log);
  const sockIno = statSync(paths.sock).ino;
  const watchdog = setInterval(() => {
    if (statSync(paths.sock, { throwIfNoEntry: false })?.ino !== sockIno) end('its socket is gone');
    else if (busy === 0 && Date.now() - lastRequest > idleMs()) end('idle');
    else if (agentPid(labName) !== process.pid) end('another agent took over');
    else if (!labRunning(lab)) end('no VM of the lab is running');
  }, CHECK_MS);
  const baselines = setInterval(() => {
    if (busy > 0 || takingBaselines || Date.now() > baselinesUntil || labLocked(labName)) return;
    takingBaselines = true;
    takeBaselines(lab, pool, memo)
      .catch(() => undefined)
      .finally(() => (takingBaselines = false));
  }, BASELINE_EVERY_MS);
  process.once('SIGTERM', () => end('SIGTERM'));
  process.once('SIGINT', () => end('SIGINT'));
  await new Promise<void>((resolve) => server.once('close', () => resolve()));
}

async function serve(
  conn: Socket,
  labName: string,
  spec: string | undefined,
  pool: SessionPool,
  memo: SampleMemo,
  log: (line: string) => void,
  callers: Set<string>,
  specChanged: () => void,
): Promise<AgentRequest['op'] | undefined> {
  const reply = (r: AgentReply) => {
    if (!r.ok) log(`refused: ${r.error}`);
    return new Promise<undefined>((resolve) => conn.end(`${JSON.stringify(r)}\n`, () => resolve(undefined)));
  };
  conn.on('error', () => undefined);
  try {
    const line = await firstLine(conn);
    const req = JSON.parse(line) as AgentRequest;
    // Another kit process is changing the lab (a restore, say): keep off its guests.
    if (labLocked(labName)) return reply({ ok: false, error: `lab ${labName} is locked by another kit process` });
    if (inVm(req)) {
      await serveInVm(conn, req, { lab: labName, spec, pool, log, busy: callers });
      return req.op;
    }
    // Readings would wait behind a caller's work on the same session: the caller reads them itself.
    if (callers.size) return reply({ ok: false, error: `a caller's command or copy runs in ${[...callers].join(', ')}` });
    if (req.op !== 'status' && (req.op !== 'stats' || !(req.sampleMs >= 50 && req.sampleMs <= 10_000))) return reply({ ok: false, error: 'bad request' });
    if ((req.spec ?? '') !== (spec ?? '')) return reply({ ok: false, error: `this agent serves ${spec ?? `specs/ lab ${labName}`}` });
    // chart-vm NAME: what the name charts, decided here as the task would (or refused: it decides itself).
    const chart = req.op === 'stats' ? req.chart : undefined;
    const elsewhere = chart !== undefined && req.op === 'stats' ? otherSpecs(req.specs) : undefined;
    if (elsewhere) return reply({ ok: false, error: elsewhere });
    const target = chart !== undefined ? await chartTarget(chart.name, { spec }) : undefined;
    const lab = target?.lab ?? (await loadLab(spec ? undefined : labName, { spec }));
    if (lab.name !== labName)
      return reply({ ok: false, error: target ? `${chart?.name ?? 'the spec'} is charted from lab ${lab.name}` : `the spec now holds lab ${lab.name}` });
    if (req.op === 'status') {
      if (req.lab !== labName) return reply({ ok: false, error: `this agent serves lab ${labName}` });
      const t0 = Date.now();
      const rows = await labStatus(lab, pool);
      log(`status answered in ${Date.now() - t0} ms`);
      await reply({ ok: true, status: rows });
      return 'status';
    }
    const t0 = Date.now();
    const only = target ? target.only : req.only;
    let stats = await collectStats(lab, only, { pool, sampleMs: req.sampleMs, memo });
    // A session that went stale (the VM restored from a snapshot, or rebooted) fails once and
    // is dropped from the pool; ask those VMs again on fresh sessions before answering.
    const stale = stats.filter((s) => s.state === 'running' && !s.guest.ok);
    if (stale.length) {
      for (const s of stale) log(`${s.name}: ${s.guest.ok ? '' : s.guest.reason}; asking again on a fresh session`);
      const again = await collectStats(
        lab,
        stale.map((s) => s.name),
        { pool, sampleMs: req.sampleMs, memo },
      );
      stats = stats.map((s) => again.find((a) => a.name === s.name) ?? s);
    }
    log(`stats answered in ${Date.now() - t0} ms`);
    await reply({ ok: true, stats, ...(target ? { kind: target.kind } : {}) });
    return 'stats';
  } catch (err) {
    await reply({ ok: false, error: (err as Error).message });
    // Its modules hold the old form of that spec: the next agent reads the new one.
    if (err instanceof SpecChangedError) specChanged();
  }
}

/** A well-formed request for work in one VM (a command, a copy between an absolute local path and the guest). */
function inVm(req: AgentRequest): req is ExecRequest | CopyRequest {
  if (req.op === 'exec') return typeof req.vm === 'string' && typeof req.command === 'string';
  if (req.op !== 'cp') return false;
  return typeof req.vm === 'string' && (req.direction === 'put' || req.direction === 'get') && isAbsolute(`${req.local}`) && typeof req.remote === 'string';
}

function firstLine(conn: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    conn.on('data', (c) => {
      buf += c.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
      else if (buf.length > 65_536) reject(new Error('request too long'));
    });
    conn.once('end', () => reject(new Error('no request')));
  });
}

/**
 * Opens a session to every running VM now, parents first (a child's goes through its
 * parent's), so the first command after `up` or `resume` finds them open: a resume asks its
 * guests through their port shells and leaves no session behind.  A caller that comes first
 * shares the one being opened.
 */
function warmSessions(lab: LabResolved, pool: SessionPool, log: (line: string) => void): void {
  if (labLocked(lab.name)) return;
  const running = [...walkVms(lab.vms)].filter((p) => p.vm.network.sshPort !== undefined && readState(kitPaths(lab.name, p.vm.name).vm)?.phase === 'running');
  if (running.length) log(`opening sessions to ${running.map((p) => p.vm.name).join(', ')}`);
  for (const place of running) pool.get(lab, place, 60_000).catch(() => undefined);
}

/** Any of the lab's host-level VMs running (its QEMU alive, by pidfile)?  Nested ones live in those. */
function labRunning(lab: LabResolved): boolean {
  return lab.vms.some((vm) => runningQemuPid(kitPaths(lab.name, vm.name).vm) !== undefined);
}

/** Creates the pidfile exclusively; takes over a stale one.  False when a live agent holds it. */
function claimPidfile(labName: string, file: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (agentPid(labName)) return false;
      // Stale: its process is gone.  (Two agents racing here both start; the one whose pid
      // the file does not hold sees that at its first check and ends.)
      rmSync(file, { force: true });
    }
  }
  return false;
}
