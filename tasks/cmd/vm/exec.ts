// `exec VM -- CMD...`: through the lab agent's open session when one takes it (no spec and
// no ssh2 loaded here: a warm command costs little more than starting the CLI), else over a
// session of its own as `ssh` would — the same output streams and exit code either way.
import type { TaskContext } from '../../cli/registry.ts';
import { shellQuote } from '../../util/shell-quote.ts';
import { UsageError } from '../../util/errors.ts';
import { GuestWork } from './guest-work.ts';

/** One word is a shell snippet (`exec vm -- 'ls | wc -l'`); several are an argv, each quoted. */
export const remoteCommand = (words: string[]) => (words.length === 1 ? words[0]! : words.map(shellQuote).join(' '));

export async function exec(ctx: TaskContext): Promise<number> {
  const [name, ...words] = ctx.args;
  if (!words.length) throw new UsageError('exec: no command given', 'npx tsx tasks.ts exec VM -- COMMAND...');
  const command = remoteCommand(words);
  const work = new GuestWork(ctx, name!);
  try {
    if (ctx.json) {
      const r = await work.exec(command);
      ctx.out.result({ vm: name, command, ...r });
      return r.code < 0 ? 1 : r.code;
    }
    const r = await work.exec(command, { onStdout: (c) => process.stdout.write(c), onStderr: (c) => process.stderr.write(c) });
    return r.code < 0 ? 1 : r.code;
  } finally {
    work.close();
  }
}
