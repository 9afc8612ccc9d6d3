// `-setup` (private): installs what the kit needs from Debian when missing, through
// scripts/setup-host.sh (quick when all is there).  `demo` depends on it, so the README's
// first command works on a fresh machine.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { TaskContext } from '../cli/registry.ts';
import { PROJECT_ROOT } from '../util/paths.ts';
import { TaskError } from '../util/errors.ts';

export function run(ctx: TaskContext): void {
  const script = join(PROJECT_ROOT, 'scripts/setup-host.sh');
  // Its output is progress for people: stderr, so --json stdout stays clean.
  const r = spawnSync('bash', [script, '--quiet'], { stdio: ['ignore', ctx.quiet ? 'ignore' : process.stderr, process.stderr] });
  if (r.status !== 0)
    throw new TaskError('installing what the kit needs failed', {
      command: ['bash', script],
      exitCode: r.status,
      hint: 'run it as root, with Debian’s package registry reachable',
    });
}
