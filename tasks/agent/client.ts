// tasks/agent/: the lab agent, one background process per running lab (like OpenSSH's
// ControlPersist, and Lima's host agent per instance); this file is its client's side.  It
// keeps the lab's SSH sessions open (a SessionPool), so a chart or a command skips the
// handshakes — two of them in a row for a nested VM, through a parent that runs under TCG.
// `up` and `resume` start it, so does the first `chart-vm`; it answers on a unix socket
// (0600, in the lab's 0700 state folder) and exits on its own: idle for 10 minutes, no VM
// of the lab running, its socket removed, or `down`/`suspend` of the lab (any task that takes
// the lab's lock).  A caller it does not answer works as if there were none.  This module
// loads no ssh2: a warm chart or command needs none.
import { poll } from '../util/retry.ts';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { PROJECT_ROOT, socketPath, stateRoot } from '../util/paths.ts';
import { kitCommand } from '../util/kit-entry.ts';
import type { VmStats } from '../stats/figures.ts';
import type { VmStatus } from '../vm/status.ts';
import { statFields } from '../qemu/process.ts';

export interface StatsRequest {
  op: 'stats';
  only?: string[];
  sampleMs: number;
  /** The spec file the lab came from (absolute), when not from specs/: it must be the agent's own. */
  spec?: string;
  /** `chart-vm [NAME]` as typed: the agent decides what it charts (stats/chart-target.ts), and says (`kind`). */
  chart?: { name?: string };
  /** With `chart`: the caller's GRAINCHART_SPECS, where the name is looked up. */
  specs?: string;
}
/** A command in a VM (agent/exec-client.ts), answered by a stream of frames. */
export interface ExecRequest {
  op: 'exec';
  vm: string;
  command: string;
  /** --lab, when given: the VM is looked up in that lab only. */
  lab?: string;
  spec?: string;
  /** The caller's GRAINCHART_SPECS: which labs a VM's name is looked up among. */
  specs: string;
}
/** A file copied between the caller's `local` (absolute: the agent runs as the same user) and `remote` in a VM, by SFTP. */
export interface CopyRequest {
  op: 'cp';
  vm: string;
  direction: 'put' | 'get';
  local: string;
  remote: string;
  lab?: string;
  spec?: string;
  specs: string;
}
/** `status LAB`: every VM's row, read at call time over the agent's sessions. */
export interface StatusRequest {
  op: 'status';
  lab: string;
  spec?: string;
}
export type AgentRequest = StatsRequest | ExecRequest | CopyRequest | StatusRequest;
export type AgentReply = { ok: true; stats: VmStats[]; kind?: 'lab' | 'vm' } | { ok: true; status: VmStatus[] } | { ok: false; error: string };

export const agentPaths = (lab: string) => {
  const dir = join(stateRoot(), lab);
  return { dir, sock: socketPath(join(dir, 'agent.sock')), pid: join(dir, 'agent.pid'), log: join(dir, 'agent.log') };
};

/** How long a caller waits for an agent's answer, which may take a session's handshake into each running VM; then it reads for itself. */
export const AGENT_WAIT_MS = 15_000;

/** Where this process looks labs up (GRAINCHART_SPECS), as a request carries it. */
export const callerSpecs = () => process.env.GRAINCHART_SPECS ?? '';

/** Why the agent cannot look a caller's name up as the caller would: it looks in other folders. */
export const otherSpecs = (specs: string | undefined) =>
  (specs ?? '') !== callerSpecs() ? 'the caller looks labs up in other folders (GRAINCHART_SPECS)' : undefined;

/** Off with GRAINCHART_AGENT=0 (every chart then samples on its own). */
export const agentEnabled = () => process.env.GRAINCHART_AGENT !== '0';

/**
 * The agent's answer, or undefined when there is no agent or it cannot answer in time —
 * the caller then samples directly.  Never throws.
 */
export function askAgent(lab: string, req: StatsRequest, timeoutMs: number): Promise<VmStats[] | undefined> {
  return ask(lab, req, timeoutMs).then((r) => (r && 'stats' in r ? r.stats : undefined));
}

/** `chart-vm NAME` from the lab's agent: what the name charts and its statistics, or undefined (the caller decides and samples itself). */
export function askChart(lab: string, req: StatsRequest, timeoutMs: number): Promise<{ kind: 'lab' | 'vm'; stats: VmStats[] } | undefined> {
  return ask(lab, req, timeoutMs).then((r) => (r && 'stats' in r && r.kind ? { kind: r.kind, stats: r.stats } : undefined));
}

/** `status LAB`'s rows from the lab's agent, or undefined (the caller then reads them itself). Never throws. */
export function askStatus(lab: string, spec: string | undefined, timeoutMs: number): Promise<VmStatus[] | undefined> {
  if (!agentEnabled()) return Promise.resolve(undefined);
  return ask(lab, { op: 'status', lab, ...(spec ? { spec } : {}) }, timeoutMs).then((r) => (r && 'status' in r ? r.status : undefined));
}

/** One request, its one-line answer when it is a yes; undefined for a no, no agent, or no answer in time. */
function ask(lab: string, req: AgentRequest, timeoutMs: number): Promise<Extract<AgentReply, { ok: true }> | undefined> {
  const { sock } = agentPaths(lab);
  if (!existsSync(sock)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const s = connect(sock);
    let buf = '';
    const done = (v: Extract<AgentReply, { ok: true }> | undefined) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    s.on('connect', () => s.write(`${JSON.stringify(req)}\n`));
    s.on('data', (c) => {
      buf += c.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        const reply = JSON.parse(buf.slice(0, nl)) as AgentReply;
        done(reply.ok ? reply : undefined);
      } catch {
        done(undefined);
      }
    });
    s.on('error', () => done(undefined));
    s.on('close', () => done(undefined));
  });
}

/** A lab or VM name that can only name a folder of the state root (no path, no `.` or `..`): one to look for an agent by. */
export const plainName = (n: string) => /^[\w.-]+$/.test(n) && n !== '.' && n !== '..';

/** The running agent of this lab: its pid and command line, checked against each other (the pidfile alone is never trusted). */
function agentProcess(lab: string): { pid: number; argv: string[] } | undefined {
  const { pid: file } = agentPaths(lab);
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const at = argv.indexOf('lab-agent');
    return at >= 0 && argv[at + 1] === lab ? { pid, argv } : undefined;
  } catch {
    return undefined;
  }
}

/** The agent's pid when one runs for this lab. */
export const agentPid = (lab: string): number | undefined => agentProcess(lab)?.pid;

/** The lab whose running agent was started for this spec file (absolute), read from the agents' command lines: no spec is loaded. */
export function agentLabForSpec(spec: string): string | undefined {
  let labs: string[];
  try {
    labs = readdirSync(stateRoot());
  } catch {
    return undefined;
  }
  return labs.find((lab) => {
    const argv = agentProcess(lab)?.argv ?? [];
    const at = argv.indexOf('--spec');
    return at >= 0 && argv[at + 1] === spec;
  });
}

/** Starts the lab's agent in the background (same node and GRAINCHART_HOME), unless one runs. */
export function startAgent(lab: string, spec?: string): void {
  if (!agentEnabled() || agentPid(lab)) return;
  // The compiled copy when it is fresh: a background process at plain node's floor, without tsx's loader.
  const [node, ...kit] = kitCommand();
  const argv = [...kit, 'lab-agent', lab, ...(spec ? ['--spec', spec] : [])];
  const child = spawn(node!, argv, { detached: true, stdio: 'ignore', env: process.env, cwd: PROJECT_ROOT });
  child.unref();
}

/** After `up` or `resume`: the lab keeps an agent for the commands and charts that follow (not for a spec on stdin: it cannot be read again). */
export function keepAgent(lab: string, spec: string | undefined): void {
  if (spec !== '-') startAgent(lab, spec ? resolve(spec) : undefined);
}

/** Stops the lab's agent, if one runs, and waits (up to 3 s) until it is gone (`down` calls this). */
export async function stopAgent(lab: string): Promise<boolean> {
  const pid = agentPid(lab);
  if (!pid) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  // An agent that is slow to go is no failure of what stops it: its sessions only see their
  // guests go away, and it ends when idle.  So running out of time is an answer here.
  await poll(async () => !running(pid), { what: `the lab agent (pid ${pid}) to end`, timeoutMs: 3000, intervalMs: 50 });
  return true;
}

/** Alive and not a zombie (a detached agent's parent is whatever adopted it, which may reap late). */
function running(pid: number): boolean {
  try {
    return statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[0] !== 'Z';
  } catch {
    return false;
  }
}
