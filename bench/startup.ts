// startup: `npx tsx tasks.ts` (listing) against `npx tsx` of an empty file, same machine, same run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../tasks/util/paths.ts';
import { timeIt, type Row } from './stats.ts';

/** An empty .ts file in `dir` (a new temporary folder by default): the baseline's script. */
export function emptyTsFile(dir = mkdtempSync(join(tmpdir(), 'gc-bench-'))): string {
  const empty = join(dir, 'empty.ts');
  writeFileSync(empty, '');
  return empty;
}

/** `npx tsx ARGS` in the project, as a user types it, output ignored: a step for timeIt. */
export const npxTsx =
  (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  async () => {
    execFileSync('npx', ['tsx', ...args], { cwd: PROJECT_ROOT, stdio: 'ignore', env });
  };

export async function benchStartup(runs = 7): Promise<Row[]> {
  const empty = emptyTsFile();
  const base: number[] = [];
  const listing: number[] = [];
  await npxTsx([empty])(); // warm tsx's cache once
  await npxTsx(['tasks.ts'])();
  for (let i = 0; i < runs; i++) {
    base.push(await timeIt(npxTsx([empty])));
    listing.push(await timeIt(npxTsx(['tasks.ts'])));
  }
  return [
    { name: 'npx tsx empty.ts', samples: base },
    { name: 'npx tsx tasks.ts (list tasks)', samples: listing, baseline: 'npx tsx empty.ts', goal: '≤ 1.15×' },
  ];
}
