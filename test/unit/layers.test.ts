// tasks/kit/ is the bottom layer: the kit's modules import each other and packages, never
// the task groups above them (image, cloud, snapshot, chart, graintime, vm, …), so a
// boot, stop, status or chart path cannot grow a hidden dependency on image building.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../tasks/kit/paths.ts';

const kit = join(PROJECT_ROOT, 'tasks', 'kit');

describe('tasks/kit', () => {
  it('imports nothing from above it', () => {
    const upward: string[] = [];
    for (const f of readdirSync(kit).filter((n) => n.endsWith('.ts'))) {
      const text = readFileSync(join(kit, f), 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.\.\/[^']+)'/g)) upward.push(`${f} → ${m[1]}`);
    }
    assert.deepEqual(upward, []);
  });
});
