// Runs an external command with zx, argv as an array (zx quotes each element; nothing is
// joined into a shell string).  A non-zero exit becomes a TaskError carrying the command,
// exit code, output and a hint.
import { $ } from 'zx';
import { TaskError } from './errors.ts';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export async function run(cmd: string[], opts: { hint?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const [bin, ...args] = cmd;
  if (!bin) throw new Error('run: empty command');
  const p = await $({ quiet: true, nothrow: true, timeout: opts.timeoutMs ?? 60_000 })`${bin} ${args}`;
  const result = { stdout: p.stdout, stderr: p.stderr, exitCode: p.exitCode ?? -1 };
  if (result.exitCode !== 0)
    throw new TaskError(`${bin} failed`, { command: cmd, exitCode: p.exitCode, stdout: p.stdout, stderr: p.stderr, hint: opts.hint });
  return result;
}
