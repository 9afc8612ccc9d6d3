// tasks/chart/: pure renderers, (data, options) → text, golden-tested; colour and glyphs
// decided here.
//
// How charts are drawn: width, Unicode or ASCII glyphs, and colour.  Colour only on a TTY
// and never with NO_COLOR (no-color.org); ASCII for terminals without Unicode (--ascii).
export interface ChartOptions {
  width: number;
  ascii: boolean;
  color: boolean;
}

export interface Glyphs {
  full: string;
  empty: string;
  spark: string[];
  tree: { mid: string; last: string; pipe: string; gap: string };
  box: { tl: string; tr: string; bl: string; br: string; h: string; v: string };
  arrow: string;
  /** Between facts on one line. */
  sep: string;
  dot: string;
  dotOff: string;
}

export const UNICODE: Glyphs = {
  full: '█',
  empty: '░',
  spark: ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'],
  tree: { mid: '├─ ', last: '└─ ', pipe: '│  ', gap: '   ' },
  box: { tl: '┌', tr: '┐', bl: '└', br: '┘', h: '─', v: '│' },
  arrow: '→',
  sep: ' · ',
  dot: '●',
  dotOff: '○',
};

export const ASCII: Glyphs = {
  full: '#',
  empty: '-',
  spark: ['_', '.', '-', '=', '+', '*', '%', '#'],
  tree: { mid: '+- ', last: '\\- ', pipe: '|  ', gap: '   ' },
  box: { tl: '+', tr: '+', bl: '+', br: '+', h: '-', v: '|' },
  arrow: '->',
  sep: ', ',
  dot: '*',
  dotOff: 'o',
};

export const glyphs = (o: Pick<ChartOptions, 'ascii'>) => (o.ascii ? ASCII : UNICODE);

/** Options from the terminal and environment; flags override. */
export function chartOptions(
  opts: { ascii?: boolean; width?: number; stream?: { isTTY?: boolean; columns?: number }; env?: NodeJS.ProcessEnv } = {},
): ChartOptions {
  const stream = opts.stream ?? process.stdout;
  const env = opts.env ?? process.env;
  return {
    width: opts.width ?? (stream.columns && stream.columns > 0 ? stream.columns : 80),
    ascii: opts.ascii ?? false,
    color: !!stream.isTTY && env.NO_COLOR === undefined && env.TERM !== 'dumb',
  };
}

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, dim: 2, bold: 1 } as const;
export type Color = keyof typeof CODES;

export function paint(text: string, color: Color | undefined, o: Pick<ChartOptions, 'color'>): string {
  return o.color && color ? `\u001b[${CODES[color]}m${text}\u001b[0m` : text;
}

/** Green below 60 %, yellow below 85 %, red above: a bar's colour by how full it is. */
export const levelColor = (fraction: number): Color => (fraction < 0.6 ? 'green' : fraction < 0.85 ? 'yellow' : 'red');
