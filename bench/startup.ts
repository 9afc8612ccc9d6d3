// startup: `npx tsx tasks.ts` (listing) against `npx tsx` of an empty file, same machine, same run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../tasks/kit/paths.ts';
import { timeIt, type Row } from './stats.ts';

export async function benchStartup(runs = 7): Promise<Row[]> {
  const empty = join(mkdtempSync(join(tmpdir(), 'gc-bench-')), 'empty.ts');
  writeFileSync(empty, '');
  const npx = (args: string[]) => async () => execFileSync('npx', ['tsx', ...args], { cwd: PROJECT_ROOT, stdio: 'ignore' });
  const base: number[] = [];
  const listing: number[] = [];
  await npx([empty])(); // warm tsx's cache once
  await npx(['tasks.ts'])();
  for (let i = 0; i < runs; i++) {
    base.push(await timeIt(npx([empty])));
    listing.push(await timeIt(npx(['tasks.ts'])));
  }
  return [
    { name: 'npx tsx empty.ts', samples: base },
    { name: 'npx tsx tasks.ts (list tasks)', samples: listing, baseline: 'npx tsx empty.ts', goal: '≤ 1.15×' },
  ];
}
