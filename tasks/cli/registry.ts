// The shape of a task and the pure helpers over the registry: listing, help text,
// dependency order and name suggestions.  Imports nothing heavy, so listing is fast.

export interface ArgDef {
  name: string;
  doc: string;
  optional?: boolean;
  variadic?: boolean;
  /** `-` here reads names from stdin (one per line, or a JSON array) and runs the task for each. */
  stdin?: boolean;
}

export interface OptDef {
  name: string;
  doc: string;
  type: 'boolean' | 'string';
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
  /** Runnable by name but not listed (internal helpers the kit starts itself, like stats-agent). */
  hidden?: boolean;
  /** Extra lines for --help. */
  help?: string;
  /** A number returned is the exit code (e.g. `exec` passes on the guest command's). */
  run: (ctx: TaskContext) => Promise<void | number> | void | number;
}

export const GLOBAL_OPTIONS: OptDef[] = [
  { name: 'json', type: 'boolean', doc: 'machine output (JSON) on stdout; human text goes to stderr' },
  { name: 'quiet', type: 'boolean', short: 'q', doc: 'no progress or notes, only results and errors' },
  { name: 'spec', type: 'string', doc: 'lab spec FILE (JSON or TypeScript), or - for JSON on stdin' },
  { name: 'help', type: 'boolean', short: 'h', doc: 'show help for the task' },
];

export const isPublic = (t: TaskDef) => !t.hidden && !t.name.startsWith('-');
/** Tasks named `-x` only run as another task's dependency; hidden ones run by name too. */
export const isRunnable = (t: TaskDef) => !t.name.startsWith('-');

/** `bb tasks`-style listing: names padded to one column. */
export function renderTaskList(tasks: TaskDef[]): string {
  const shown = tasks.filter(isPublic);
  const width = Math.max(...shown.map((t) => t.name.length));
  return ['The following tasks are available:', '', ...shown.map((t) => `${t.name.padEnd(width)}  ${t.doc}`)].join('\n');
}

export function renderHelp(task: TaskDef, program = 'npx tsx tasks.ts'): string {
  const argWords = (task.args ?? []).map((a) => {
    const w = a.variadic ? `${a.name}...` : a.name;
    return a.optional ? `[${w}]` : w;
  });
  const lines = [`Usage: ${program} ${task.name}${argWords.length ? ` ${argWords.join(' ')}` : ''} [options]`, '', task.doc];
  if (task.args?.length) {
    lines.push('', 'Arguments:');
    const w = Math.max(...task.args.map((a) => a.name.length));
    for (const a of task.args) lines.push(`  ${a.name.padEnd(w)}  ${a.doc}${a.optional ? ' (optional)' : ''}`);
  }
  const opts = [...(task.options ?? []), ...GLOBAL_OPTIONS];
  const flag = (o: OptDef) => `${o.short ? `-${o.short}, ` : '    '}--${o.name}${o.type === 'string' ? ' VALUE' : ''}`;
  const w = Math.max(...opts.map((o) => flag(o).length));
  lines.push('', 'Options:', ...opts.map((o) => `  ${flag(o).padEnd(w)}  ${o.doc}`));
  if (task.depends?.length) lines.push('', `Runs first: ${task.depends.join(', ')}`);
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

export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** Names close to `wanted`: same prefix or a few edits away, closest first. */
export function closestNames(wanted: string, names: string[], max = 3): string[] {
  const limit = Math.max(2, Math.floor(wanted.length / 3));
  return names
    .map((n) => ({ n, d: n.startsWith(wanted) || wanted.startsWith(n) ? 0.5 : editDistance(wanted, n) }))
    .filter((x) => x.d <= limit)
    .sort((a, b) => a.d - b.d || a.n.localeCompare(b.n))
    .slice(0, max)
    .map((x) => x.n);
}
