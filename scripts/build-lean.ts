// Compiles the kit into plain JavaScript in build/js (`npm run build`; npm ci runs it as
// `prepare`), so that long-lived processes — the lab agent, `serve` — run under plain node
// without tsx's loader (see tasks/util/kit-entry.ts).  One ES module per lazily imported task
// (code splitting keeps `tasks` as cheap as under tsx); packages stay in node_modules.
// The stamp is written last: a build that fails halfway leaves no copy the kit would trust.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { LEAN_DIR, LEAN_STAMP, newestSource, sourceFiles } from '../tasks/util/kit-entry.ts';
import { PROJECT_ROOT } from '../tasks/util/paths.ts';

const quiet = process.argv.includes('--quiet');
const t0 = performance.now();
// Measured before compiling: a source saved while esbuild runs makes the copy stale, not wrongly fresh.
const newest = newestSource(sourceFiles());
rmSync(LEAN_DIR, { recursive: true, force: true });
await build({
  entryPoints: [join(PROJECT_ROOT, 'tasks.ts')],
  outdir: LEAN_DIR,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  // Top-level await in tasks.ts, and the sources' `.ts` import specifiers resolved by esbuild.
  logLevel: quiet ? 'error' : 'warning',
});
writeFileSync(LEAN_STAMP, `${JSON.stringify({ newestSourceMs: newest.mtimeMs, builtAt: new Date().toISOString() })}\n`);
if (!quiet) console.error(`build-lean: ${LEAN_DIR} in ${Math.round(performance.now() - t0)} ms`);
