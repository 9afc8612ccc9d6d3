// The shape of a task and the pure helpers over the registry: listing, help text,
// dependency order; name suggestions are util/closest.ts's.  Imports nothing heavy, so listing is fast.

export interface ArgDef {
  name: string;
  doc: string;
  optional?: boolean;
  /** Needed unless --spec FILE gives the lab instead. */
  orSpec?: boolean;
  /** The rest of the command line, after `--` (exec's command, run-in's script). */
  variadic?: boolean;
  /** `-` here reads names from stdin (one per line, or a JSON array) and runs the task for each. */
  stdin?: boolean;
}

export interface OptDef {
  name: string;
  doc: string;
  type: 'boolean' | 'string';
  /** What a string option's value is, as help shows it: FILE, NAME, SECONDS, N, … */
  value?: string;
  short?: string;
}

export interface TaskContext {
  task: string;
  args: string[];
  opts: Record<string, string | boolean | undefined>;
  json: boolean;
  quiet: boolean;
  spec?: string;
  out: Output;
}

export interface Output {
  /** The task's result: JSON on stdout with --json, else the human text (or JSON when none). */
  result(data: unknown, human?: string | (() => string)): void;
  /** One JSON Lines record on stdout, with --json only: progress of a stream (up, down, watch). */
  event(data: unknown): void;
  /** Progress and notes for people: stderr, silenced by --quiet. */
  info(message: string): void;
  /** Warnings: stderr, even with --quiet. */
  warn(message: string): void;
}

export interface TaskDef {
  name: string;
  doc: string;
  args?: ArgDef[];
  options?: OptDef[];
  depends?: string[];
  /** Runnable by name but not listed (internal helpers the kit starts itself, like lab-agent). */
  hidden?: boolean;
  /** Takes no lab, so --spec is not among its options. */
  withoutLab?: boolean;
  /** Extra lines for --help. */
  help?: string;
  /** A number returned is the exit code (e.g. `exec` passes on the guest command's). */
  run: (ctx: TaskContext) => Promise<void | number> | void | number;
}

export const GLOBAL_OPTIONS: OptDef[] = [
  { name: 'json', type: 'boolean', doc: 'machine output (JSON) on stdout; human text goes to stderr' },
  { name: 'quiet', type: 'boolean', short: 'q', doc: 'no progress or notes, only results and errors' },
  { name: 'spec', type: 'string', value: 'FILE', doc: 'the lab spec FILE (JSON or TypeScript) instead of specs/; - reads JSON from stdin' },
  { name: 'help', type: 'boolean', short: 'h', doc: 'show help for the task' },
];

/** The options every task takes, and --spec where the task takes a lab. */
export const globalOptions = (task: TaskDef): OptDef[] => GLOBAL_OPTIONS.filter((o) => o.name !== 'spec' || !task.withoutLab);

export const isPublic = (t: TaskDef) => !t.hidden && !t.name.startsWith('-');
/** Tasks named `-x` only run as another task's dependency; hidden ones run by name too. */
export const isRunnable = (t: TaskDef) => !t.name.startsWith('-');

/** `bb tasks`-style listing: names padded to one column. */
export function renderTaskList(tasks: TaskDef[]): string {
  const shown = tasks.filter(isPublic);
  const width = Math.max(...shown.map((t) => t.name.length));
  return ['The following tasks are available:', '', ...shown.map((t) => `${t.name.padEnd(width)}  ${t.doc}`)].join('\n');
}

/** The task's help; `depends` are the tasks it runs first, told by what they do. */
export function renderHelp(task: TaskDef, depends: TaskDef[] = [], program = 'npx tsx tasks.ts'): string {
  const word = (a: ArgDef) => {
    const w = a.variadic ? `-- ${a.name}...` : a.name;
    return a.optional ? `[${w}]` : a.orSpec ? `${w}|--spec FILE` : w;
  };
  const args = task.args ?? [];
  const leading = args.filter((a) => !a.variadic).map(word);
  const rest = args.filter((a) => a.variadic).map(word);
  // Options go before a `--`: after it, every word belongs to the guest's command.
  const usage = [program, task.name, ...leading, '[options]', ...rest].join(' ');
  const lines = [`Usage: ${usage}`, '', task.doc];
  if (args.length) {
    lines.push('', 'Arguments:');
    const w = Math.max(...args.map((a) => a.name.length));
    const note = (a: ArgDef) => (a.optional ? ' (optional)' : a.orSpec ? ' (or --spec FILE instead)' : '');
    for (const a of args) lines.push(`  ${a.name.padEnd(w)}  ${a.doc}${note(a)}`);
  }
  const opts = [...(task.options ?? []), ...globalOptions(task)];
  const flag = (o: OptDef) => `${o.short ? `-${o.short}, ` : '    '}--${o.name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
  const w = Math.max(...opts.map((o) => flag(o).length));
  lines.push('', 'Options:', ...opts.map((o) => `  ${flag(o).padEnd(w)}  ${o.doc}`));
  for (const d of depends) lines.push('', `Before it runs: ${d.doc}`);
  if (task.help) lines.push('', task.help);
  return lines.join('\n');
}

/** Depth-first order of `name`'s dependencies, each once, then `name`.  Throws on cycles. */
export function planRun(byName: Map<string, TaskDef>, name: string): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  const visit = (n: string, trail: string[]) => {
    if (done.has(n)) return;
    if (trail.includes(n)) throw new Error(`dependency cycle: ${[...trail.slice(trail.indexOf(n)), n].join(' → ')}`);
    const task = byName.get(n);
    if (!task) throw new Error(`task ${trail.at(-1) ?? '?'} depends on unknown task ${n}`);
    for (const d of task.depends ?? []) visit(d, [...trail, n]);
    done.add(n);
    order.push(n);
  };
  visit(name, []);
  return order;
}
