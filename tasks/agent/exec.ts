// The lab agent's side of `exec` (agent/exec-client.ts has the wire format): the VM looked up
// as `exec` would look it up, the command run on the pooled session, its output streamed back
// as it comes.  Refused — so the caller works directly, and says what it would say — unless
// the name means this lab's VM, that VM runs, and no other caller's command runs in it: a
// session runs one command at a time (ssh/guest.ts), and a command must not wait behind
// another CLI's.
import type { Socket } from 'node:net';
import { loadAllLabs, loadLab } from '../spec/load.ts';
import { findVm, type LabResolved } from '../spec/tree.ts';
import { kitPaths } from '../util/paths.ts';
import { readState } from '../machine/record.ts';
import { SpecChangedError } from '../util/errors.ts';
import { droppedConnection } from '../ssh/dropped.ts';
import type { Guest } from '../ssh/guest.ts';
import type { SessionPool } from '../vm/session-pool.ts';
import type { ExecRequest } from './client.ts';

/** What the agent was started for: its lab, from specs/ or a spec file. */
export interface Served {
  lab: string;
  spec?: string;
  pool: SessionPool;
  log: (line: string) => void;
  /** The VMs a caller's command runs in now. */
  execs: Set<string>;
}

/** Why the agent does not take this request, or undefined (then `lab` is the one to run it in). */
async function refusal(req: ExecRequest, served: Served): Promise<string | { lab: LabResolved }> {
  if ((req.spec ?? '') !== (served.spec ?? '')) return `this agent serves ${served.spec ?? `specs/ lab ${served.lab}`}`;
  if (req.specs !== (process.env.GRAINCHART_SPECS ?? '')) return 'the caller looks labs up in other folders (GRAINCHART_SPECS)';
  if (req.lab !== undefined && req.lab !== served.lab) return `this agent serves lab ${served.lab}`;
  // As `exec` looks a name up: in the lab named or the spec given, else among every lab, where it must be in one only.
  const all = req.lab || served.spec ? undefined : await loadAllLabs();
  // A spec that changed since this agent read it may now hold this name too: this agent cannot tell.
  const changed = all?.broken.find((b) => b.error instanceof SpecChangedError);
  if (changed) throw changed.error;
  const labs = all ? all.labs : [await loadLab(served.spec ? undefined : served.lab, { spec: served.spec })];
  const hits = labs.filter((l) => findVm(l, req.vm));
  if (hits.length !== 1 || hits[0]!.name !== served.lab) return `${req.vm} is not one VM of lab ${served.lab} alone`;
  if (readState(kitPaths(served.lab, req.vm).vm)?.phase !== 'running') return `${req.vm} is not running`;
  return { lab: hits[0]! };
}

export async function serveExec(conn: Socket, req: ExecRequest, served: Served): Promise<void> {
  const asked = Date.now();
  const send = (frame: object) => conn.write(`${JSON.stringify(frame)}\n`);
  const refuse = (why: string) => {
    served.log(`exec in ${req.vm} refused: ${why}`);
    conn.end(`${JSON.stringify({ ok: false, error: why })}\n`);
  };
  const found = await refusal(req, served);
  if (typeof found === 'string') return refuse(found);
  const place = findVm(found.lab, req.vm)!;
  let guest: Guest;
  try {
    guest = await served.pool.get(found.lab, place, 20_000);
  } catch (err) {
    return refuse(`no session to ${req.vm}: ${(err as Error).message.split('\n')[0]}`);
  }
  // Another caller's command may run for long; the agent's own readings are short, and waited for.
  if (served.execs.has(req.vm)) return refuse(`${req.vm}'s session is running another caller's command`);
  if (guest.closed) {
    served.pool.drop(req.vm, 'its connection had ended');
    return refuse(`${req.vm}'s session had ended`);
  }
  // The caller gave up waiting (it then runs the command itself): do not run it twice.
  if (conn.destroyed || !conn.writable) return;
  send({ ok: true });
  const t0 = Date.now();
  served.execs.add(req.vm);
  try {
    const r = await guest.exec(req.command, {
      onStdout: (c) => send({ o: c.toString('base64') }),
      onStderr: (c) => send({ e: c.toString('base64') }),
    });
    served.log(
      `exec in ${req.vm} ran: exit ${r.code}${r.signal ? ` (${r.signal})` : ''} in ${Date.now() - t0} ms, started ${t0 - asked} ms after it was asked`,
    );
    conn.end(`${JSON.stringify({ code: r.code, ...(r.signal ? { signal: r.signal } : {}) })}\n`);
  } catch (err) {
    served.log(`exec in ${req.vm} failed: ${(err as Error).message.split('\n')[0]}`);
    if (droppedConnection(err)) served.pool.drop(req.vm, (err as Error).message.split('\n')[0]!);
    conn.end(`${JSON.stringify({ failed: (err as Error).message })}\n`);
  } finally {
    served.execs.delete(req.vm);
  }
}
