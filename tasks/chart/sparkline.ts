// Sparklines: the last samples as one row of eighth-blocks (or ASCII levels).
import { glyphs, type ChartOptions } from './style.ts';

/** `values` scaled between min and max (default: 0 and the largest value), newest last,
 * the latest `cells` of them; a missing sample is a space. */
export function sparkline(
  values: Array<number | undefined>,
  cells: number,
  o: Pick<ChartOptions, 'ascii'>,
  range: { min?: number; max?: number } = {},
): string {
  const g = glyphs(o).spark;
  const shown = values.slice(-cells);
  const known = shown.filter((v): v is number => v !== undefined);
  const min = range.min ?? 0;
  const max = range.max ?? Math.max(min, ...known);
  return shown
    .map((v) => {
      if (v === undefined) return ' ';
      if (max <= min) return g[0]!;
      const level = Math.round(((Math.min(max, Math.max(min, v)) - min) / (max - min)) * (g.length - 1));
      return g[level]!;
    })
    .join('')
    .padStart(Math.min(cells, values.length), ' ');
}
