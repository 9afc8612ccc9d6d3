// The lab agent's side of a caller's work in one VM — `exec`'s command, `cp`'s copy
// (agent/exec-client.ts has the wire format): the VM looked up as the CLI would look it up,
// the work done on the pooled session, its output streamed back as it comes.  Refused — so
// the caller works directly, and says what it would say — unless the name means this lab's
// VM, that VM runs, and no other caller's work runs in it: a session runs one command at a
// time (ssh/guest.ts), and a caller must not wait behind another CLI's.
import type { Socket } from 'node:net';
import { loadAllLabs, loadLab } from '../spec/load.ts';
import { findVm, type LabResolved } from '../spec/tree.ts';
import { kitPaths } from '../util/paths.ts';
import { readState } from '../machine/record.ts';
import { SpecChangedError } from '../util/errors.ts';
import { droppedConnection } from '../ssh/dropped.ts';
import type { Guest } from '../ssh/guest.ts';
import type { SessionPool } from '../vm/session-pool.ts';
import { otherSpecs, type CopyRequest, type ExecRequest } from './client.ts';

/** What the agent was started for: its lab, from specs/ or a spec file. */
export interface Served {
  lab: string;
  spec?: string;
  pool: SessionPool;
  log: (line: string) => void;
  /** The VMs a caller's command or copy runs in now. */
  busy: Set<string>;
}

type VmRequest = ExecRequest | CopyRequest;

/** Why the agent does not take this request, or the lab to do it in. */
async function refusal(req: VmRequest, served: Served): Promise<string | { lab: LabResolved }> {
  if ((req.spec ?? '') !== (served.spec ?? '')) return `this agent serves ${served.spec ?? `specs/ lab ${served.lab}`}`;
  const elsewhere = otherSpecs(req.specs);
  if (elsewhere) return elsewhere;
  if (req.lab !== undefined && req.lab !== served.lab) return `this agent serves lab ${served.lab}`;
  // As the CLI looks a name up: in the lab named or the spec given, else among every lab, where it must be in one only.
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

/** What a request's work is, for the log. */
const doing = (req: VmRequest) => (req.op === 'exec' ? `exec in ${req.vm}` : `cp ${req.direction === 'put' ? 'into' : 'out of'} ${req.vm}`);

export async function serveInVm(conn: Socket, req: VmRequest, served: Served): Promise<void> {
  const asked = Date.now();
  const send = (frame: object) => conn.write(`${JSON.stringify(frame)}\n`);
  const refuse = (why: string) => {
    served.log(`${doing(req)} refused: ${why}`);
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
  // Another caller's work may run for long; the agent's own readings are short, and waited for.
  if (served.busy.has(req.vm)) return refuse(`${req.vm}'s session is busy with another caller's work`);
  if (guest.closed) {
    served.pool.drop(req.vm, 'its connection had ended');
    return refuse(`${req.vm}'s session had ended`);
  }
  // The caller gave up waiting (it then does the work itself): do not do it twice.
  if (conn.destroyed || !conn.writable) return;
  send({ ok: true });
  const t0 = Date.now();
  served.busy.add(req.vm);
  try {
    const end = req.op === 'exec' ? await runCommand(guest, req, send) : await copy(guest, req);
    served.log(`${doing(req)} ran: ${end.said} in ${Date.now() - t0} ms, started ${t0 - asked} ms after it was asked`);
    conn.end(`${JSON.stringify(end.frame)}\n`);
  } catch (err) {
    served.log(`${doing(req)} failed: ${(err as Error).message.split('\n')[0]}`);
    if (droppedConnection(err)) served.pool.drop(req.vm, (err as Error).message.split('\n')[0]!);
    conn.end(`${JSON.stringify({ failed: (err as Error).message })}\n`);
  } finally {
    served.busy.delete(req.vm);
  }
}

async function runCommand(guest: Guest, req: ExecRequest, send: (frame: object) => void) {
  const r = await guest.exec(req.command, {
    onStdout: (c) => send({ o: c.toString('base64') }),
    onStderr: (c) => send({ e: c.toString('base64') }),
  });
  return { said: `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}`, frame: { code: r.code, ...(r.signal ? { signal: r.signal } : {}) } };
}

/** The caller's local file is this agent's too (same user, its absolute path): SFTP between it and the guest, as `cp` would. */
async function copy(guest: Guest, req: CopyRequest) {
  if (req.direction === 'put') await guest.put(req.local, req.remote);
  else await guest.get(req.remote, req.local);
  return { said: 'copied', frame: { copied: true } };
}
