// Golden files in test/golden/: compared byte for byte; UPDATE_GOLDEN=1 (or a missing file)
// writes them, to be reviewed in the diff before committing.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';

const GOLDEN = join(PROJECT_ROOT, 'test/golden');

export function golden(name: string, actual: string): void {
  const file = join(GOLDEN, `${name}.txt`);
  if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, `${actual}\n`);
  assert.equal(`${actual}\n`, readFileSync(file, 'utf8'), `${name} differs from its golden file`);
}
