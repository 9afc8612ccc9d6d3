// `run-in VM -- SCRIPT [ARGS...]`: copy a local script into the guest over SFTP, run it there
// (its #! line picks the interpreter; without one, sh), stream its output, and exit with its
// exit code.  The copy goes to a fresh folder under /tmp and is removed after.  Each step goes
// through the lab agent when it takes it (guest-work.ts).
import { readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { TaskContext } from '../../cli/registry.ts';
import { shellQuote } from '../../util/shell-quote.ts';
import { TaskError, UsageError } from '../../util/errors.ts';
import { GuestWork } from './guest-work.ts';

export async function runIn(ctx: TaskContext): Promise<number> {
  const [name, script, ...args] = ctx.args;
  if (!script) throw new UsageError('run-in: no script given', 'npx tsx tasks.ts run-in VM -- ./check.sh [ARGS...]');
  let size: number;
  try {
    const st = statSync(script);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (err) {
    throw new UsageError(`run-in: cannot read the script ${script}: ${(err as Error).message}`);
  }
  const hasShebang = readFileSync(script).subarray(0, 2).toString() === '#!';
  const work = new GuestWork(ctx, name!);
  try {
    const made = await work.exec('mktemp -d /tmp/gc-run-XXXXXX');
    if (made.code !== 0)
      throw new TaskError(`${name}: \`mktemp -d /tmp/gc-run-XXXXXX\` exited ${made.code}`, { exitCode: made.code, stdout: made.stdout, stderr: made.stderr });
    const dir = made.stdout.trim();
    const remote = `${dir}/${basename(script).replace(/[^\w.-]/g, '_') || 'script'}`;
    try {
      await work.put(resolve(script), remote);
      const command = `chmod 700 ${shellQuote(remote)} && ${hasShebang ? '' : 'sh '}${[remote, ...args].map(shellQuote).join(' ')}`;
      if (ctx.json) {
        const r = await work.exec(command);
        ctx.out.result({ vm: name, script, bytes: size, args, ...r });
        return r.code < 0 ? 1 : r.code;
      }
      const r = await work.exec(command, { onStdout: (c) => process.stdout.write(c), onStderr: (c) => process.stderr.write(c) });
      return r.code < 0 ? 1 : r.code;
    } finally {
      await work.exec(`rm -rf ${shellQuote(dir)}`).catch(() => undefined);
    }
  } finally {
    work.close();
  }
}
