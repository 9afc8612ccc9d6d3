// Horizontal bars: `label  ████████░░  80%  6.4 of 8 GiB`.  A value that is unknown is
// drawn as `?` with its reason, and the chart still renders.
import { glyphs, levelColor, paint, type ChartOptions } from './style.ts';
import { fit, padStart, truncate, width } from './text.ts';

export interface BarRow {
  label: string;
  /** 0..1, or undefined when the value could not be read. */
  fraction?: number;
  /** Shown after the percentage, e.g. "6.4 of 8 GiB". */
  detail?: string;
  /** Why the value is missing. */
  reason?: string;
}

/** One bar of `cells` columns. */
export function bar(fraction: number, cells: number, o: Pick<ChartOptions, 'ascii' | 'color'>): string {
  const g = glyphs(o);
  const f = Math.min(1, Math.max(0, fraction));
  const filled = Math.round(f * cells);
  return paint(g.full.repeat(filled), levelColor(f), o) + g.empty.repeat(cells - filled);
}

/** Labelled bars, aligned, fitting `o.width`. */
export function renderBars(rows: BarRow[], o: ChartOptions): string {
  const labelW = Math.min(Math.max(0, ...rows.map((r) => width(r.label))), Math.floor(o.width / 3));
  const detailW = Math.max(0, ...rows.map((r) => (r.fraction === undefined ? 0 : width(r.detail ?? ''))));
  // label, 2 spaces, bar, 1 space, "100%", 2 spaces, detail
  const cells = Math.max(5, Math.min(30, o.width - labelW - 2 - 1 - 4 - (detailW ? 2 + detailW : 0)));
  return rows
    .map((r) => {
      const label = fit(r.label, labelW, o.ascii);
      if (r.fraction === undefined) {
        const why = `? ${r.reason ?? 'unknown'}`;
        return truncate(`${label}  ${padStart('?', cells)}  ${why.slice(2)}`, o.width, o.ascii).trimEnd();
      }
      const pct = padStart(`${Math.round(Math.min(1, Math.max(0, r.fraction)) * 100)}%`, 4);
      const line = `${label}  ${bar(r.fraction, cells, o)} ${pct}${r.detail ? `  ${r.detail}` : ''}`;
      return o.color ? line : truncate(line, o.width, o.ascii);
    })
    .join('\n');
}
