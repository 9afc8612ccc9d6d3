// `exec` and `cp` through the lab agent: the command runs (the file is copied) on the agent's
// open SSH session, its output and exit code come back over the agent's socket as they happen.  No spec is loaded here and
// no ssh2: the agent checks the name against the spec (as `exec` would) and refuses what it
// cannot answer for, and then the caller works directly, as it does with no agent.
//
// The agent's answer, one JSON object a line:
//   {"ok":false,"error":…}   refused before the command started: go direct
//   {"ok":true}              the command started: from here on this is the answer
//   {"o":BASE64} {"e":BASE64} stdout, stderr as they come
//   {"code":N,"signal":S}    it ended  — or {"failed":MESSAGE}: the session ended under it
//   {"copied":true}          a copy's end — or {"failed":MESSAGE}, SFTP's own word
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { stateRoot, VM_FILES } from '../util/paths.ts';
import { TaskError } from '../util/errors.ts';
import { agentEnabled, agentPaths, callerSpecs, plainName, type CopyRequest, type ExecRequest } from './client.ts';

/** Until the agent says it started the work (it may open a session first: two handshakes for a nested VM under TCG). */
const ACCEPT_WAIT_MS = 20_000;

/**
 * The lab whose agent to ask about VM `name`: `lab` when given, else the one lab with a live
 * agent socket whose state folder holds a VM of that name (none or several: undefined).
 */
export function agentLabOf(name: string, lab?: string): string | undefined {
  if (!plainName(name) || (lab !== undefined && !plainName(lab))) return undefined;
  const serves = (l: string) => existsSync(agentPaths(l).sock) && existsSync(join(stateRoot(), l, name, VM_FILES.state));
  if (lab !== undefined) return serves(lab) ? lab : undefined;
  let labs: string[];
  try {
    labs = readdirSync(stateRoot()).filter(serves);
  } catch {
    return undefined;
  }
  return labs.length === 1 ? labs[0] : undefined;
}

export interface ExecAnswer {
  code: number;
  signal?: string;
  stdout: string;
  stderr: string;
}

type Frame = { ok?: boolean; o?: string; e?: string; code?: number; signal?: string; copied?: boolean; failed?: string };
/** What a frame after {"ok":true} makes of the answer: its end, or nothing yet. */
type OnFrame<T> = (f: Frame) => { done: T } | undefined;

/**
 * Runs `command` in `vm` through its lab's agent, streaming to `onStdout`/`onStderr` (else
 * collecting); undefined when no agent took it (none, refused, gone before it started).
 */
export function execThroughAgent(
  req: Omit<ExecRequest, 'op' | 'specs'>,
  io: { onStdout?: (c: Buffer) => void; onStderr?: (c: Buffer) => void } = {},
): Promise<ExecAnswer | undefined> {
  const out: Buffer[] = [];
  const errs: Buffer[] = [];
  return askInVm({ op: 'exec', ...req, specs: callerSpecs() }, `\`${req.command.slice(0, 60)}\` ran`, (f) => {
    if (f.o !== undefined) {
      const c = Buffer.from(f.o, 'base64');
      io.onStdout ? io.onStdout(c) : out.push(c);
    } else if (f.e !== undefined) {
      const c = Buffer.from(f.e, 'base64');
      io.onStderr ? io.onStderr(c) : errs.push(c);
    } else if (f.code !== undefined)
      return {
        done: {
          code: f.code,
          ...(f.signal ? { signal: f.signal } : {}),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(errs).toString('utf8'),
        },
      };
    return undefined;
  });
}

/**
 * Copies between the caller's `local` file (an absolute path) and `remote` in `vm` through its
 * lab's agent: true once copied; undefined when no agent took it.
 */
export function copyThroughAgent(req: Omit<CopyRequest, 'op' | 'specs'>): Promise<true | undefined> {
  return askInVm({ op: 'cp', ...req, specs: callerSpecs() }, 'a copy ran', (f) => (f.copied ? { done: true as const } : undefined));
}

/** One request for work in a VM: undefined when no agent took it; the end `onFrame` finds; a TaskError when the work failed there. */
function askInVm<T>(full: ExecRequest | CopyRequest, running: string, onFrame: OnFrame<T>): Promise<T | undefined> {
  if (!agentEnabled()) return Promise.resolve(undefined);
  const lab = agentLabOf(full.vm, full.lab);
  if (!lab) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const s = connect(agentPaths(lab).sock);
    let started = false;
    let settled = false;
    let buf = '';
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      f();
    };
    // No word from it in time: go direct.  It sees the socket closed and does not start the work.
    const timer = setTimeout(() => settle(() => resolve(undefined)), ACCEPT_WAIT_MS);
    const frame = (line: string) => {
      const f = JSON.parse(line) as Frame;
      if (!started) {
        if (f.ok !== true) return settle(() => resolve(undefined));
        started = true;
        clearTimeout(timer);
        return;
      }
      if (f.failed !== undefined) return settle(() => reject(new TaskError(f.failed!)));
      const end = onFrame(f);
      if (end) settle(() => resolve(end.done));
    };
    s.on('connect', () => s.write(`${JSON.stringify(full)}\n`));
    s.on('data', (c) => {
      buf += c.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0 && !settled; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          frame(line);
        } catch {
          settle(() => (started ? reject(new TaskError(`the lab agent of ${lab} answered garbled: ${line.slice(0, 80)}`)) : resolve(undefined)));
        }
      }
    });
    // Gone before the work started: nothing ran, go direct.  Gone after: it may have run, so say so.
    const gone = () =>
      settle(() =>
        started
          ? reject(
              new TaskError(`the lab agent of ${lab} ended while ${running} in ${full.vm}; it may be cut short`, {
                hint: 'run it again; GRAINCHART_AGENT=0 works without the agent',
              }),
            )
          : resolve(undefined),
      );
    s.on('error', gone);
    s.on('close', gone);
  });
}
