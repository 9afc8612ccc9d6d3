// Runs tasks.ts in a child process, as a user would.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';

export const TASKS = join(PROJECT_ROOT, 'tasks.ts');

export function kit(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; preload?: string[]; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  const preload = (opts.preload ?? []).flatMap((p) => ['--import', p]);
  return spawnSync(process.execPath, ['--import', 'tsx', ...preload, TASKS, ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    input: opts.input ?? '',
    env: { ...process.env, ...opts.env },
    // Generous: a lab's `up` under TCG on a loaded 2-core machine can take a minute.
    timeout: opts.timeoutMs ?? 180_000,
  });
}
