// Shared by the benchmarks: repeated timing, medians, and the markdown table they print.
export interface Row {
  name: string;
  samples: number[]; // seconds, or `unit`
  unit?: 's' | 'MiB' | 'count';
  baseline?: string; // the row this one is compared with
  goal?: string;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

const f = (s: number, unit: Row['unit'] = 's') =>
  unit === 'count' ? s.toFixed(2) : unit === 'MiB' ? `${s.toFixed(1)} MiB` : s < 0.1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`;

export function table(rows: Row[]): string {
  const byName = new Map(rows.map((r) => [r.name, r]));
  const lines = ['| measurement | runs | median | min | max | ratio | goal |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const base = r.baseline ? byName.get(r.baseline) : undefined;
    const ratio = base ? `${(median(r.samples) / median(base.samples)).toFixed(2)}× ${r.baseline}` : 'baseline';
    lines.push(
      `| ${r.name} | ${r.samples.length} | ${f(median(r.samples), r.unit)} | ${f(Math.min(...r.samples), r.unit)} | ${f(Math.max(...r.samples), r.unit)} | ${ratio} | ${r.goal ?? ''} |`,
    );
  }
  return lines.join('\n');
}
