// The runner behind tasks.ts: parse argv, pick the task, run its dependencies, report.
// Exit codes: 0 ok, 1 a task failed (or no such task, as bb does), 2 bad input or usage.
import { parseArgs } from 'node:util';
import { exitCodeOf, formatError, UsageError } from './errors.ts';
import { closestNames, GLOBAL_OPTIONS, isPublic, planRun, renderHelp, type OptDef, type Output, type TaskDef } from './registry.ts';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: Io = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };

export function makeOutput(json: boolean, quiet: boolean, io: Io): Output {
  return {
    result(data, human) {
      if (json || human === undefined) io.stdout(JSON.stringify(data, null, 2) + '\n');
      else io.stdout((typeof human === 'function' ? human() : human) + '\n');
    },
    info(message) {
      if (!quiet) io.stderr(message + '\n');
    },
    warn(message) {
      io.stderr(`warning: ${message}\n`);
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
  if (!task || !isPublic(task)) {
    const near = closestNames(name, tasks.filter(isPublic).map((t) => t.name));
    io.stderr(`No such task: ${name}\n${near.length ? `Did you mean: ${near.join(', ')}\n` : ''}Run \`npx tsx tasks.ts tasks\` to list them.\n`);
    return 1;
  }
  try {
    const parsed = parseArgs({ args: argv, options: toParseOptions([...GLOBAL_OPTIONS, ...(task.options ?? [])]), strict: true, allowPositionals: true });
    const opts = parsed.values as Record<string, string | boolean | undefined>;
    const json = opts.json === true;
    if (opts.help) {
      io.stdout(renderHelp(task) + '\n');
      return 0;
    }
    const args = parsed.positionals.slice(1);
    checkArity(task, args);
    const out = makeOutput(json, opts.quiet === true, io);
    const ctx = { args, opts, json, quiet: opts.quiet === true, spec: opts.spec as string | undefined, out };
    let code = 0;
    for (const step of planRun(byName, name)) {
      const t = byName.get(step)!;
      const r = await t.run(step === name ? { ...ctx, task: step } : { ...ctx, task: step, args: [] });
      if (typeof r === 'number') code = r;
    }
    return code;
  } catch (err) {
    const e = asUsage(err);
    io.stderr(formatError(e) + '\n');
    return exitCodeOf(e);
  }
}

function checkArity(task: TaskDef, args: string[]) {
  const defs = task.args ?? [];
  const required = defs.filter((a) => !a.optional && !a.variadic).length;
  const variadic = defs.some((a) => a.variadic);
  if (args.length < required)
    throw new UsageError(`${task.name}: missing ${defs.slice(args.length).filter((a) => !a.optional).map((a) => a.name).join(', ')}`, `npx tsx tasks.ts ${task.name} --help`);
  if (!variadic && args.length > defs.length)
    throw new UsageError(`${task.name}: unexpected argument${args.length - defs.length > 1 ? 's' : ''} ${args.slice(defs.length).join(' ')}`, `npx tsx tasks.ts ${task.name} --help`);
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

