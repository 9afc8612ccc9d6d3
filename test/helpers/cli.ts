// Runs tasks.ts in a child process, as a user would.
import assert from 'node:assert/strict';
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
    // Longer than a boot's own budget (180 s a layer under TCG, vm/boot-stages.ts bootBudgetMs, and
    // a lab has two layers): a boot that hangs is reported by the kit itself, with its serial
    // console and the stage it stopped at, not cut off by the test with nothing said.
    timeout: opts.timeoutMs ?? 420_000,
  });
}

/** Asserts a kit run exited 0, with its stderr in the message: a failed boot's own report (stage, console, vCPUs) then shows in the test's output. */
export function succeeded(r: SpawnSyncReturns<string>, what = ''): SpawnSyncReturns<string> {
  assert.equal(r.status, 0, `${what ? `${what}: ` : ''}exit ${r.status ?? r.signal}\n${r.stderr}`);
  return r;
}
