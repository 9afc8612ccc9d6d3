// One kit process changes a lab at a time: `up`, `down`, `boot`, `stop`, `snapshot`,
// `restore`… take the lab's lock (proper-lockfile: an atomic mkdir, refreshed while held,
// taken over when its holder died and it went stale).  A second process waits, saying
// who holds it, and gives up with a clear error after `waitS` seconds.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { retry } from '../util/retry.ts';
import { stateRoot } from '../util/paths.ts';
import { stopAgent } from '../agent/client.ts';

export interface LockHolder {
  pid: number;
  task: string;
  since: string;
}

const files = (lab: string, root = stateRoot()) => {
  const dir = join(root, lab);
  return { dir, target: join(dir, 'lab.lock'), holder: join(dir, 'lab.lock.holder.json') };
};

export function lockHolder(lab: string, root = stateRoot()): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(files(lab, root).holder, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

/** Whether a kit process holds the lab's lock right now (the lab agent keeps off the guests then). */
export function labLocked(lab: string): boolean {
  const f = files(lab);
  try {
    return existsSync(f.target) && lockfile.checkSync(f.target, { stale: 15_000, realpath: false });
  } catch {
    return false;
  }
}

/** Runs `fn` holding the lab's lock; waits up to `waitS` for another kit process to let go. */
export async function withLabLock<T>(lab: string, task: string, fn: () => Promise<T>, opts: { waitS?: number; say?: (m: string) => void } = {}): Promise<T> {
  const f = files(lab);
  // The first folder this made (the lab's, or the state root above it), if it made one.
  const made = mkdirSync(f.dir, { recursive: true, mode: 0o700 });
  chmodSync(f.dir, 0o700);
  if (!existsSync(f.target)) writeFileSync(f.target, '', { mode: 0o600 });
  const waitS = opts.waitS ?? 300;
  let said = false;
  const release = await retry(
    async () => {
      try {
        // stale: a holder that stopped refreshing for 15 s is dead (it refreshes every 7.5 s).
        return await lockfile.lock(f.target, { stale: 15_000, realpath: false });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
        const h = lockHolder(lab);
        const who = h ? `\`${h.task}\` (pid ${h.pid}, since ${h.since})` : 'another kit process';
        if (!said) opts.say?.(`lab ${lab} is busy: waiting for ${who} to finish…`);
        said = true;
        throw new Error(`${who} holds it`);
      }
    },
    {
      what: `lab ${lab}'s lock`,
      timeoutMs: waitS * 1000,
      intervalMs: 500,
      fatal: (err) => (err as NodeJS.ErrnoException).code !== undefined,
      hint: 'wait for it to finish, or stop it',
    },
  );
  try {
    writeFileSync(f.holder, `${JSON.stringify({ pid: process.pid, task, since: new Date().toISOString() } satisfies LockHolder)}\n`, { mode: 0o600 });
  } catch {
    // Only who holds the lock, for the message of a process that waits: a full disk must not
    // stop `stop` from freeing it.  Waiters then say "another kit process".
    rmSync(f.holder, { force: true });
  }
  let failed = false;
  try {
    // The lab's lab agent talks to its guests once a second; traffic into a guest while
    // QEMU loads a snapshot can leave its virtio-net state inconsistent (snapshot-load
    // failing with EINVAL), and most changes break the agent's sessions anyway.  It ends
    // here, and does nothing while the lock is held (labLocked) until it ends on its own.
    await stopAgent(lab);
    return await fn();
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    rmSync(f.holder, { force: true });
    await release().catch(() => undefined);
    // A run refused (or failed) before it wrote anything leaves no lab folder behind for its lock alone.
    if (failed && made && holdsNothing(made, f.target)) rmSync(made, { recursive: true, force: true });
  }
}

/** Whether the folder holds nothing but folders holding nothing, and the lock file `lock`. */
function holdsNothing(dir: string, lock: string): boolean {
  return readdirSync(dir, { withFileTypes: true }).every((e) => {
    const path = join(dir, e.name);
    return path === lock || (e.isDirectory() && holdsNothing(path, lock));
  });
}
