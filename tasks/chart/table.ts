// Tables whose columns are measured with string-width; when too wide for the terminal,
// the widest column gives way first.
import type { ChartOptions } from './style.ts';
import { fit, padStart, width } from './text.ts';

export interface Column {
  header: string;
  align?: 'left' | 'right';
}

export function renderTable(columns: Column[], rows: string[][], o: ChartOptions): string {
  const widths = columns.map((c, i) => Math.max(width(c.header), ...rows.map((r) => width(r[i] ?? ''))));
  const gap = 2;
  const total = () => widths.reduce((a, b) => a + b, 0) + gap * (widths.length - 1);
  while (total() > o.width) {
    const widest = widths.indexOf(Math.max(...widths));
    if (widths[widest]! <= 4) break;
    widths[widest]!--;
  }
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (columns[i]?.align === 'right' ? padStart(fit(cell, widths[i]!, o.ascii).trimEnd(), widths[i]!) : fit(cell, widths[i]!, o.ascii)))
      .join(' '.repeat(gap))
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map((r) => line(r))].join('\n');
}
