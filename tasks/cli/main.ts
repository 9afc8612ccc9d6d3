// tasks/cli/: how the kit talks on a command line — parsing, help, exit codes, progress and
// confirmations — kept apart so tasks stay thin and listing tasks loads nothing heavy.
//
// The runner behind tasks.ts: parse argv, pick the task, run its dependencies, report.
// Exit codes: 0 ok, 1 a task failed (or no such task, as bb does), 2 bad input or usage.
import { closeAll } from '../util/closers.ts';
import { parseArgs } from 'node:util';
import { exitCodeOf, formatError, UsageError } from '../util/errors.ts';
import { readStdin } from '../util/stdin.ts';
import { visible } from '../util/text.ts';
import { closestNames } from '../util/closest.ts';
import {
  GLOBAL_OPTIONS,
  globalOptions,
  isPublic,
  isRunnable,
  planRun,
  renderHelp,
  type ArgDef,
  type OptDef,
  type Output,
  type TaskContext,
  type TaskDef,
} from './registry.ts';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: Io = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };

export function makeOutput(json: boolean, quiet: boolean, io: Io): Output {
  return {
    result(data, human) {
      if (json || human === undefined) io.stdout(`${JSON.stringify(data, null, 2)}\n`);
      else io.stdout(`${typeof human === 'function' ? human() : human}\n`);
    },
    event(data) {
      if (json) io.stdout(`${JSON.stringify(data)}\n`);
    },
    info(message) {
      if (!quiet) io.stderr(`${message}\n`);
    },
    warn(message) {
      io.stderr(`warning: ${visible(message, true)}\n`);
    },
  };
}

type ParseConfig = Parameters<typeof parseArgs>[0] & object;
const toParseOptions = (opts: OptDef[]) =>
  Object.fromEntries(opts.map((o) => [o.name, o.short ? { type: o.type, short: o.short } : { type: o.type }])) as NonNullable<ParseConfig['options']>;

/** Runs one command line; returns the exit code (never calls process.exit). */
export async function runCli(tasks: TaskDef[], argv: string[], io: Io = processIo): Promise<number> {
  const byName = new Map(tasks.map((t) => [t.name, t]));
  // First pass, lenient: find the task name so its own options can join the strict pass.
  const loose = parseArgs({ args: argv, options: toParseOptions(GLOBAL_OPTIONS), strict: false, allowPositionals: true });
  const name = loose.positionals[0] ?? 'tasks';
  const task = byName.get(name);
  if (!task || !isRunnable(task)) {
    const near = closestNames(
      name,
      tasks.filter(isPublic).map((t) => t.name),
    );
    io.stderr(
      `No such task: ${/^[\w.:-]+$/.test(name) ? name : visible(JSON.stringify(name))}\n${near.length ? `Did you mean: ${near.join(', ')}\n` : ''}Run \`npx tsx tasks.ts tasks\` to list them.\n`,
    );
    return 1;
  }
  try {
    const known = [...globalOptions(task), ...(task.options ?? [])];
    checkOptions(task, known, argv);
    const parsed = parseArgs({ args: argv, options: toParseOptions(known), strict: true, allowPositionals: true });
    const opts = parsed.values as Record<string, string | boolean | undefined>;
    const json = opts.json === true;
    if (opts.help) {
      io.stdout(
        `${renderHelp(
          task,
          (task.depends ?? []).map((d) => byName.get(d)).filter((d) => d !== undefined),
        )}\n`,
      );
      return 0;
    }
    const args = parsed.positionals.slice(1);
    checkArity(task, args);
    const out = makeOutput(json, opts.quiet === true, io);
    const ctx = { args, opts, json, quiet: opts.quiet === true, spec: opts.spec as string | undefined, out };
    let code = 0;
    for (const step of planRun(byName, name)) {
      const t = byName.get(step)!;
      const r =
        step !== name
          ? await t.run({ ...ctx, task: step, args: [] })
          : task.args?.[0]?.stdin && args[0] === '-'
            ? await runForStdinNames(task, ctx, io)
            : await t.run({ ...ctx, task: step });
      if (typeof r === 'number') code = r;
    }
    return code;
  } catch (err) {
    const e = asUsage(err);
    io.stderr(`${formatError(e)}\n`);
    return exitCodeOf(e);
  } finally {
    closeAll();
  }
}

/** Names piped in: one per line (blank lines and # comments skipped), or a JSON array of strings. */
export function parseNames(text: string): string[] {
  const t = text.trim();
  if (t.startsWith('[')) {
    let list: unknown;
    try {
      list = JSON.parse(t);
    } catch (err) {
      throw new UsageError(`stdin looks like a JSON array but does not parse: ${(err as Error).message}`);
    }
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw new UsageError('stdin: a JSON array of names must hold strings only');
    return list;
  }
  return t
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/**
 * `task - …`: the task once per name read from stdin, in order, each failure reported and
 * the rest still run; one combined result (arrays joined) and the worst exit code.
 */
async function runForStdinNames(task: TaskDef, ctx: Omit<TaskContext, 'task'>, io: Io): Promise<number> {
  if (ctx.spec === '-') throw new UsageError('stdin cannot carry both the spec (--spec -) and the names (-)', 'pass the spec as a file: --spec lab.json');
  const names = parseNames(await readStdin());
  if (!names.length) throw new UsageError(`${task.name} -: no names on stdin`, 'pipe names in, one per line or as a JSON array');
  const results: unknown[] = [];
  const humans: string[] = [];
  let code = 0;
  for (const n of names) {
    const out: Output = {
      ...ctx.out,
      result(data, human) {
        results.push(data);
        humans.push(human === undefined ? JSON.stringify(data, null, 2) : typeof human === 'function' ? human() : human);
      },
    };
    try {
      const r = await task.run({ ...ctx, task: task.name, args: [n, ...ctx.args.slice(1)], out });
      if (typeof r === 'number' && r > code) code = r;
    } catch (err) {
      const e = asUsage(err);
      io.stderr(`${n}: ${formatError(e)}\n`);
      code = Math.max(code, exitCodeOf(e));
    }
  }
  if (results.length) ctx.out.result(results.every(Array.isArray) ? results.flat() : results, () => humans.join('\n'));
  return code;
}

function checkArity(task: TaskDef, args: string[]) {
  const defs = task.args ?? [];
  // A lab or --spec: the task asks for it itself, listing the labs there are.
  const needed = (a: ArgDef) => !a.optional && !a.variadic && !a.orSpec;
  const required = defs.filter(needed).length;
  const variadic = defs.some((a) => a.variadic);
  if (args.length < required)
    throw new UsageError(
      `${task.name}: missing ${defs
        .slice(args.length)
        .filter(needed)
        .map((a) => a.name)
        .join(', ')}`,
      `npx tsx tasks.ts ${task.name} --help`,
    );
  if (!variadic && args.length > defs.length)
    throw new UsageError(
      `${task.name}: unexpected argument${args.length - defs.length > 1 ? 's' : ''} ${args.slice(defs.length).join(' ')}`,
      `npx tsx tasks.ts ${task.name} --help`,
    );
}

/**
 * Each option checked against the task's own, in the kit's words: an unknown one (with the
 * nearest names), a value missing, or a value given to a switch.  Words after `--` are the
 * guest's, never options.
 */
function checkOptions(task: TaskDef, known: OptDef[], argv: string[]) {
  const { tokens } = parseArgs({ args: argv, options: toParseOptions(known), strict: false, allowPositionals: true, tokens: true });
  const help = `npx tsx tasks.ts ${task.name} --help`;
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const opt = known.find((o) => o.name === t.name);
    if (!opt) {
      const near = closestNames(
        t.name,
        known.map((o) => o.name),
      ).map((n) => `--${n}`);
      const why = t.name === 'spec' ? ` (${task.name} takes no lab)` : '';
      throw new UsageError(
        `${task.name}: unknown option ${visible(t.rawName)}${why}${near.length ? `; did you mean ${near.join(' or ')}?` : ''}`,
        `${help}${task.args?.some((a) => a.variadic) ? `; words for the guest go after --, as in: ${task.name} VM -- ${visible(t.rawName)}` : ''}`,
      );
    }
    // A value that looks like an option is most likely the next option, the value forgotten.
    const forgotten = t.value === undefined || (!t.inlineValue && t.value.startsWith('-') && t.value !== '-');
    if (opt.type === 'string' && forgotten)
      throw new UsageError(
        `${task.name}: ${t.rawName} needs a value: ${t.rawName} ${opt.value ?? 'VALUE'}${t.value ? ` (${visible(t.value)} looks like the next option; a value starting with - goes as ${t.rawName}=${visible(t.value)})` : ''}`,
        help,
      );
    if (opt.type === 'boolean' && t.inlineValue)
      throw new UsageError(`${task.name}: ${t.rawName} is a switch and takes no value (${visible(argv[t.index]!)})`, help);
  }
}

/** node:util's parse errors are usage errors (exit 2), with their message kept. */
function asUsage(err: unknown): unknown {
  const code = (err as { code?: string })?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) return new UsageError((err as Error).message);
  return err;
}

/** Entry point for tasks.ts: a closed stdout (`| head -1`) ends quietly. */
export async function main(tasks: TaskDef[]): Promise<void> {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  process.exitCode = await runCli(tasks, process.argv.slice(2));
}
