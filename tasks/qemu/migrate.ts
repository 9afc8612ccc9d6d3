// A VM's devices saved to a file and loaded back, its RAM left where it is: the guest's RAM
// is a file shared with QEMU (args.ts ramFile), and QMP's migration with the capability
// `x-ignore-shared` writes everything but shared RAM — a few hundred KiB, where a snapshot
// writes every touched page (Kata Containers' VM templating rests on the same capability).
//   save:  stop → x-ignore-shared on → migrate to "exec:cat > FILE" → completed → quit
//   load:  QEMU started with -incoming defer → x-ignore-shared on → migrate-incoming from
//          "exec:cat FILE" → completed → x-ignore-shared off → cont
// The capability is turned off once a load is done: a snapshot (savevm) of a QEMU that has it
// on leaves the RAM out too, and could never be loaded.
import type { QmpClient } from './qmp.ts';
import { FatalError } from '../util/errors.ts';
import { retry } from '../util/retry.ts';

const CAPABILITY = 'x-ignore-shared';

/** A word for sh, as QEMU's exec: migration hands the command to /bin/sh -c. */
const sh = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

interface MigrationInfo {
  status?: string;
  'error-desc'?: string;
}

/** Whether this QEMU can leave shared RAM out of a migration (QEMU 4.0 and later; probed, not assumed). */
export async function offersIgnoreShared(q: QmpClient): Promise<boolean> {
  const caps = await q.execute<Array<{ capability: string }>>('query-migrate-capabilities', undefined, 3000);
  return caps.some((c) => c.capability === CAPABILITY);
}

const setIgnoreShared = (q: QmpClient, state: boolean) => q.execute('migrate-set-capabilities', { capabilities: [{ capability: CAPABILITY, state }] }, 3000);

/** Polls query-migrate until the migration is done; a failed one throws QEMU's reason. */
async function completed(q: QmpClient, what: string, timeoutMs: number): Promise<void> {
  await retry(
    async () => {
      const info = await q.execute<MigrationInfo>('query-migrate', undefined, 3000);
      if (info.status === 'failed' || info.status === 'cancelled')
        throw new FatalError(`${what} failed: ${info['error-desc'] ?? info.status}`, 'see qemu.stderr in the VM folder');
      return info.status === 'completed' || undefined;
    },
    { what, timeoutMs, intervalMs: 20, hint: 'QEMU is still writing or reading the devices: see qemu.stderr in the VM folder' },
  );
}

/**
 * Saves the VM's devices to `file` (its RAM stays in its file) and leaves it stopped; the
 * caller quits QEMU.  On failure the VM runs on as before, the capability off again.
 */
export async function saveDevices(q: QmpClient, file: string, timeoutMs = 60_000): Promise<void> {
  await q.execute('stop', undefined, 5000);
  try {
    await setIgnoreShared(q, true);
    await q.execute('migrate', { uri: `exec:cat > ${sh(file)}` }, 5000);
    await completed(q, 'saving the devices', timeoutMs);
  } catch (err) {
    await setIgnoreShared(q, false).catch(() => undefined);
    await q.execute('cont', undefined, 5000).catch(() => undefined);
    throw err;
  }
}

/** QMP statuses of a VM a save of its devices stopped: a suspend cut short leaves one so. */
export const STOPPED_BY_SAVE = ['paused', 'finish-migrate', 'postmigrate'];

/** Lets a VM a save stopped run on (the source of a migration may go on after it), the capability off again. */
export async function runOn(q: QmpClient): Promise<void> {
  await setIgnoreShared(q, false).catch(() => undefined);
  await q.execute('cont', undefined, 5000);
}

/** Loads the devices saved in `file` into a QEMU started with `-incoming defer`, then lets the guest run. */
export async function loadDevices(q: QmpClient, file: string, timeoutMs = 60_000): Promise<void> {
  await setIgnoreShared(q, true);
  await q.execute('migrate-incoming', { uri: `exec:cat ${sh(file)}` }, 5000);
  await completed(q, 'loading the saved devices', timeoutMs);
  await setIgnoreShared(q, false);
  await q.execute('cont', undefined, 5000);
}
