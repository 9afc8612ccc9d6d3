// Runs an external command (qemu-img and friends) with its argv as an array: node's
// execFile, so no shell ever sees the words.  A non-zero exit becomes a TaskError carrying
// the command, exit code, output and a hint.  Not zx: loading it costs ~100 ms, and the
// one-shot tasks (status, chart-vm) that only call qemu-img need none of its shell.
import { execFile } from 'node:child_process';
import { TaskError } from './errors.ts';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export async function run(cmd: string[], opts: { hint?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const [bin, ...args] = cmd;
  if (!bin) throw new Error('run: empty command');
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const result = await new Promise<RunResult & { timedOut: boolean; spawnError?: string }>((resolve) => {
    execFile(
      bin,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 2 ** 20, encoding: 'utf8', env: opts.env ?? process.env },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
        const exitCode = !e ? 0 : typeof e.code === 'number' ? e.code : -1;
        resolve({ stdout, stderr, exitCode, timedOut: !!e?.killed, spawnError: typeof e?.code === 'string' ? e.message : undefined });
      },
    );
  });
  if (result.exitCode !== 0) {
    const why = result.timedOut ? ` (killed after ${timeoutMs / 1000} s)` : result.spawnError ? `: ${result.spawnError}` : '';
    throw new TaskError(`${bin} failed${why}`, { command: cmd, exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr, hint: opts.hint });
  }
  return { stdout: result.stdout, stderr: result.stderr, exitCode: 0 };
}
