// tasks/util/: the bottom room, what every other one leans on and that knows nothing of labs or
// VMs — errors and their one format, the one waiting primitive, running a program, the kit's
// state paths and file names, the text rules.
//
// Every failure the kit reports is one of these, formatted in one place (formatError),
// so a message always names what failed, why, and what to try.
import { visible } from './text.ts';

/** Bad input or usage: exit 2, nothing written. */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A spec file that cannot be read as one: missing, a folder, unreadable, not JSON or
 * TypeScript, not parsing, throwing when loaded.  Exit 2; the message starts with the file.
 */
export class SpecFileError extends UsageError {
  constructor(
    readonly file: string,
    readonly problem: string,
    hint?: string,
  ) {
    super(`${file}: ${problem}`, hint);
    this.name = 'SpecFileError';
  }
}

/**
 * A TypeScript spec edited after this process imported it: Node keeps a module once loaded
 * (tsx too, whatever the URL's query), so a long-lived process (the lab agent) cannot read
 * the new form, and must not serve the old one.
 */
export class SpecChangedError extends SpecFileError {
  constructor(file: string) {
    super(file, 'changed since this process loaded it', 'a process that loads it anew reads it: the lab agent ends, and the next up or chart-vm starts one');
    this.name = 'SpecChangedError';
  }
}

export interface SpecProblem {
  path: string; // e.g. vms[0].children[0].memory
  message: string;
}

/** A lab spec that does not validate: exit 2, each problem names its field path. */
export class SpecError extends Error {
  readonly exitCode = 2;
  constructor(
    readonly source: string,
    readonly problems: SpecProblem[],
  ) {
    super(`${source}: invalid lab spec\n${problems.map((p) => `  ${p.path || '(root)'}: ${p.message}`).join('\n')}`);
    this.name = 'SpecError';
  }
}

export interface TaskErrorDetails {
  command?: string[];
  exitCode?: number | null;
  stdout?: string;
  stderr?: string;
  hint?: string;
  cause?: unknown;
}

/** A step that failed while doing real work: exit 1. */
export class TaskError extends Error {
  readonly exitCode = 1;
  readonly command?: string[];
  readonly commandExitCode?: number | null;
  readonly stdout?: string;
  readonly stderr?: string;
  readonly hint?: string;
  constructor(message: string, details: TaskErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'TaskError';
    this.command = details.command;
    this.commandExitCode = details.exitCode;
    this.stdout = details.stdout;
    this.stderr = details.stderr;
    this.hint = details.hint;
  }
}

// What stops a wait or a boot at once, and the failures of particular layers — each a kind
// of the classes above, so formatting, exit codes and --json know them all.

/** Thrown by a check (or a watch) when waiting longer cannot help. */
export class FatalError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'FatalError';
  }
}

/** A wait that ran out of time: what was awaited, for how long, and the last reason. */
export class TimedOut extends TaskError {}

/** The guest's SSH host key is not the one pinned for it: the kit never connects to an unknown key. */
export class HostKeyMismatch extends TaskError {}

/** The guest's sshd refused the lab's key (ssh2: every authentication method failed). */
export class KeyRefused extends TaskError {}

/** The machine a boot or a stop ran on is gone (its VM's kernel panicked, or its QEMU ended), and what ran there with it. */
export class MachineLost extends FatalError {}

/** QEMU's monitor answered a command with an error: the command, QEMU's error class, its words. */
export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly klass: string,
    message: string,
  ) {
    super(`QMP ${command}: ${klass}: ${message}`);
    this.name = 'QmpError';
  }
}

/** QEMU exited while starting: its own stderr says why, so no serial log is added. */
export class QemuRefused extends TaskError {}

/** The guest's kernel panicked during the boot: its QEMU runs on, but the guest never will. */
export class GuestPanicked extends FatalError {}

/** A boot that failed because the parent it ran in was lost: `up` may boot that parent again. */
export class ParentLost extends TaskError {
  constructor(
    message: string,
    readonly parent: string,
    hint: string,
    cause: unknown,
  ) {
    super(message, { hint, cause });
  }
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof SpecError) return 2;
  return 1;
}

/** The last `lines` lines of a text, trailing blank ones dropped. */
export const lastLines = (text: string, lines: number) => text.trimEnd().split('\n').slice(-lines).join('\n');

/** Human text for any error: message, command, output tails, hint; whatever a spec or argv put in it, no terminal sequence gets through. */
export function formatError(err: unknown): string {
  return visible(errorText(err), true);
}

function errorText(err: unknown): string {
  if (err instanceof SpecError) return `error: ${err.message}`;
  if (!(err instanceof Error)) return `error: ${String(err)}`;
  const out = [`error: ${err.message}`];
  if (err instanceof TaskError) {
    if (err.command) out.push(`  command: ${err.command.map(quoteForDisplay).join(' ')}`);
    if (err.commandExitCode !== undefined) out.push(`  exit code: ${err.commandExitCode}`);
    if (err.stderr?.trim()) out.push(`  stderr:\n${indent(lastLines(err.stderr, 20))}`);
    if (err.stdout?.trim()) out.push(`  stdout:\n${indent(lastLines(err.stdout, 20))}`);
  }
  const hint = (err as { hint?: string }).hint;
  if (hint) out.push(`  hint: ${hint}`);
  if (!(err instanceof UsageError) && !(err instanceof TaskError) && err.stack && process.env.GRAINCHART_DEBUG) {
    out.push(err.stack);
  }
  return out.join('\n');
}

/** JSON form of an error for `--json` callers. */
export function errorJson(err: unknown): Record<string, unknown> {
  if (err instanceof SpecError) return { error: 'spec', source: err.source, problems: err.problems };
  if (err instanceof TaskError)
    return {
      error: 'task',
      message: err.message,
      command: err.command,
      exitCode: err.commandExitCode,
      stderr: err.stderr,
      hint: err.hint,
    };
  if (err instanceof UsageError) return { error: 'usage', message: err.message, hint: err.hint };
  return { error: 'internal', message: err instanceof Error ? err.message : String(err) };
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

/** Shell-style quoting for showing a command; never used to run one. */
export function quoteForDisplay(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
