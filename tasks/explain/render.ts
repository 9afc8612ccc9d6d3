// The "parameters flow" of one VM, drawn from the very sections qemuArgs builds:
// each step's flags and why this value, one after the other down the page.  And the same
// argv as a command line to paste into a shell.
import { chartOptions, type ChartOptions } from '../chart/style.ts';
import { truncate, width } from '../chart/text.ts';
import type { ArgSection } from '../qemu/plan.ts';
import { shellQuote } from '../util/shell-quote.ts';

/** Section names as a reader knows them. */
const TITLES: Record<string, string> = {
  name: 'Name',
  data: 'Firmware folders',
  machine: 'Machine',
  cpu: 'CPU',
  smp: 'SMP',
  memory: 'RAM',
  disk: 'Disk',
  firmware: 'Firmware',
  boot: 'Boot',
  carry: 'Children’s images',
  network: 'Network',
  display: 'Display',
  accel: 'Accelerator',
  control: 'Control',
  devices: 'Devices',
};

/** Words of `text` in lines of at most `cols` columns; a word longer than a line is cut. */
export function wrap(text: string, cols: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && width(line) + 1 + width(word) > cols) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
    while (width(line) > cols) {
      lines.push(line.slice(0, cols));
      line = line.slice(cols);
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** Flags as `-m 2048`, one option per line, values that QEMU reads as one word. */
function flagLines(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (a.startsWith('-') && next !== undefined && !next.startsWith('-')) {
      out.push(`${a} ${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** `domain`: per section, the libvirt domain lines it becomes (a VM on libvirt), shown under its note. */
export function renderFlow(title: string, plan: ArgSection[], o: ChartOptions = chartOptions(), domain?: string[][]): string {
  const cols = Math.max(30, o.width);
  const down = o.ascii ? 'v' : '↓';
  const bar = o.ascii ? '|' : '│';
  const lines = [...wrap(title, cols), ''];
  plan.forEach((s, i) => {
    const head = `${String(i + 1).padStart(2)}. ${TITLES[s.section] ?? s.section}`;
    lines.push(truncate(head, cols, o.ascii));
    for (const f of flagLines(s.args)) lines.push(truncate(`    ${f}`, cols, o.ascii));
    for (const l of wrap(s.note, cols - 6)) lines.push(`    ${bar} ${l}`);
    for (const l of domain?.[i] ?? []) lines.push(truncate(`    ${o.ascii ? '=>' : '⇒'} ${l}`, cols, o.ascii));
    if (i < plan.length - 1) lines.push(`    ${down}`);
  });
  return lines.join('\n');
}

/** `qemu-system-x86_64 \` (after its environment, if any) then one option per line, each word quoted for sh. */
export function shellCommand(binary: string, args: string[], env: Record<string, string> = {}): string {
  return [
    [...Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`), shellQuote(binary)].join(' '),
    ...flagLines(args).map((l) => {
      const [flag, ...rest] = l.split(' ');
      return rest.length ? `${shellQuote(flag!)} ${shellQuote(l.slice(flag!.length + 1))}` : shellQuote(flag!);
    }),
  ].join(' \\\n  ');
}
