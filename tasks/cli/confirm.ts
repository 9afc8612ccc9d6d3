// Asking before something is lost: yes with --yes, a question on a terminal, else a refusal
// (exit 2, nothing changed) — a pipeline never answers a prompt it cannot see.
import { createInterface } from 'node:readline/promises';
import type { TaskContext } from './registry.ts';
import { UsageError } from '../util/errors.ts';

/** Returns when the user agrees that `loss` happens; `hint` says what else to do. */
export async function confirmLoss(ctx: TaskContext, loss: string, hint: string): Promise<void> {
  if (ctx.opts.yes === true) return;
  if (!process.stdin.isTTY || !process.stderr.isTTY) throw new UsageError(`${loss}; not doing that without --yes`, hint);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    if (!/^y(es)?$/i.test((await rl.question(`${loss}. Go on? [y/N] `)).trim())) throw new UsageError('cancelled; nothing changed', hint);
  } finally {
    rl.close();
  }
}
