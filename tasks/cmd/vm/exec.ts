// `exec VM -- CMD...`: through the lab agent's open session when one takes it (no spec and
// no ssh2 loaded here: a warm command costs little more than starting the CLI), else over a
// session of its own as `ssh` would — the same output streams and exit code either way.
import { resolve } from 'node:path';
import type { TaskContext } from '../../cli/registry.ts';
import { execThroughAgent } from '../../agent/exec-client.ts';
import { shellQuote } from '../../util/shell-quote.ts';
import { UsageError } from '../../util/errors.ts';

/** One word is a shell snippet (`exec vm -- 'ls | wc -l'`); several are an argv, each quoted. */
export const remoteCommand = (words: string[]) => (words.length === 1 ? words[0]! : words.map(shellQuote).join(' '));

export async function exec(ctx: TaskContext): Promise<number> {
  const [name, ...words] = ctx.args;
  if (!words.length) throw new UsageError('exec: no command given', 'npx tsx tasks.ts exec VM -- COMMAND...');
  const command = remoteCommand(words);
  // Through the lab agent's open session when it takes the command; else as below.
  if (ctx.spec !== '-') {
    const spec = ctx.spec ? resolve(ctx.spec) : undefined;
    const req = { vm: name!, command, ...(ctx.opts.lab ? { lab: ctx.opts.lab as string } : {}), ...(spec ? { spec } : {}) };
    const io = { onStdout: (c: Buffer) => process.stdout.write(c), onStderr: (c: Buffer) => process.stderr.write(c) };
    const r = await execThroughAgent(req, ctx.json ? {} : io);
    if (r && ctx.json) ctx.out.result({ vm: name, command, ...r });
    if (r) return r.code < 0 ? 1 : r.code;
  }
  const { connectGuest, vmTarget } = await import('../../vm/target.ts');
  const guest = await connectGuest(await vmTarget(ctx, name!));
  try {
    if (ctx.json) {
      const r = await guest.exec(command);
      ctx.out.result({ vm: name, command, ...r });
      return r.code < 0 ? 1 : r.code;
    }
    const r = await guest.exec(command, { onStdout: (c) => process.stdout.write(c), onStderr: (c) => process.stderr.write(c) });
    return r.code < 0 ? 1 : r.code;
  } finally {
    guest.close();
  }
}
