// Writes what the docs take from the code between their `<!-- generated: … -->` marks:
// docs/spec.md's table of every field.  test/unit/docs.test.ts fails when a page and its
// source differ; this puts them back in step.   npx tsx scripts/update-docs.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENERATED, withGenerated } from '../tasks/cmd/generated-docs.ts';
import { PROJECT_ROOT } from '../tasks/util/paths.ts';

for (const page of Object.keys(GENERATED)) {
  const file = join(PROJECT_ROOT, page);
  const before = readFileSync(file, 'utf8');
  const after = withGenerated(before, GENERATED[page]!());
  if (after !== before) writeFileSync(file, after);
  console.log(`${page}: ${after === before ? 'in step' : 'updated'}`);
}
