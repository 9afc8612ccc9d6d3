// The compiled copy of the kit (build/js, `npm run build`, made by npm ci): trusted only while
// no source is newer; run by plain node, it answers as the sources do, loads a TypeScript spec
// without tsx (esbuild compiles it, nothing left behind), and reads the page's files and the
// image recipes from tasks/, so an image built by it has the sources' cache key.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LEAN_ENTRY, leanStale, newestSource, runningLean } from '../../tasks/util/kit-entry.ts';
import { importCompiledTs } from '../../tasks/spec/compile-ts.ts';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';
import { kit } from '../helpers/cli.ts';

const lean = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [LEAN_ENTRY, ...args], { cwd: PROJECT_ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });

describe('the compiled copy of the kit', () => {
  it('is stale without a stamp, or when a source is newer than the one it was built from', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gc-lean-'));
    try {
      const a = join(dir, 'a.ts');
      const b = join(dir, 'b.ts');
      writeFileSync(a, '');
      writeFileSync(b, '');
      utimesSync(a, 1000, 1000);
      utimesSync(b, 2000, 2000);
      const stamp = join(dir, 'stamp.json');
      assert.match(leanStale(stamp, [a, b]) ?? '', /^no compiled copy at /);
      assert.deepEqual(newestSource([a, b]), { file: b, mtimeMs: 2_000_000 });
      writeFileSync(stamp, JSON.stringify({ newestSourceMs: 2_000_000 }));
      assert.equal(leanStale(stamp, [a, b]), undefined);
      utimesSync(a, 3000, 3000);
      assert.equal(leanStale(stamp, [a, b]), `${a} is newer than the compiled copy`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('knows where it runs from: the sources here, build/js there', () => {
    assert.equal(runningLean(), false);
    assert.equal(runningLean(`file://${PROJECT_ROOT}/build/js/chunk-X.js`), true);
    assert.equal(runningLean(`file://${PROJECT_ROOT}/build/jsx/chunk-X.js`), false);
  });

  it('is fresh here (npm ci and npm test build it), and plain node runs it as the sources run', () => {
    assert.equal(leanStale(), undefined, 'npm run build');
    const home = mkdtempSync(join(tmpdir(), 'gc-lean-home-'));
    try {
      const env = { GRAINCHART_HOME: home };
      // A TypeScript spec (demo.ts imports defineLab from the sources), loaded without tsx.
      const fromLean = lean(['spec', 'demo', '--json'], env);
      assert.equal(fromLean.status, 0, fromLean.stderr);
      const fromSources = kit(['spec', 'demo', '--json'], { env });
      assert.equal(fromLean.stdout, fromSources.stdout);
      assert.equal(lean(['graintime', '--at', '2026-12-07T00:00:00Z']).stdout, kit(['graintime', '--at', '2026-12-07T00:00:00Z']).stdout);
      // The image key is the sources' own (the recipes are read from tasks/image, not from the chunks): explain names the image folder.
      const explained = lean(['explain', 'l1', '--lab', 'demo'], env);
      assert.match(explained.stdout, /tiny-nest-[0-9a-f]{16}/);
      assert.equal(explained.stdout, kit(['explain', 'l1', '--lab', 'demo'], { env }).stdout);
      const bad = lean(['spec', join(home, 'nope.ts')], env);
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /nope\.ts: not found/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('a TypeScript spec compiled by esbuild (no tsx loader)', () => {
  it('brings in what it imports (a relative .ts file, a package from node_modules), and leaves nothing in the temporary folder', async () => {
    const dir = mkdtempSync(join(PROJECT_ROOT, 'test', '.gc-spec-'));
    try {
      mkdirSync(join(dir, 'parts'));
      writeFileSync(join(dir, 'parts', 'sizes.ts'), 'export const MEM: number = 768;\n');
      writeFileSync(
        join(dir, 'lab.ts'),
        "import { z } from 'zod';\nimport { MEM } from './parts/sizes.ts';\nimport type { LabInput } from '../../tasks/spec/schema.ts';\nconst lab: LabInput = { name: z.string().parse('ts'), vms: [{ name: 'a', memory: MEM }] };\nexport default lab;\n",
      );
      const before = readdirSync(tmpdir()).filter((n) => n.startsWith('grainchart-spec-')).length;
      const mod = await importCompiledTs(join(dir, 'lab.ts'), 'v1');
      assert.deepEqual(mod.default, { name: 'ts', vms: [{ name: 'a', memory: 768 }] });
      // The same text again is the module already imported (as tsx's module cache gives it); another text is compiled anew.
      assert.equal(await importCompiledTs(join(dir, 'lab.ts'), 'v1'), mod);
      writeFileSync(join(dir, 'parts', 'sizes.ts'), 'export const MEM: number = 1024;\n');
      assert.deepEqual((await importCompiledTs(join(dir, 'lab.ts'), 'v2')).default, { name: 'ts', vms: [{ name: 'a', memory: 1024 }] });
      assert.equal(readdirSync(tmpdir()).filter((n) => n.startsWith('grainchart-spec-')).length, before);
      writeFileSync(join(dir, 'broken.ts'), "import { nothing } from './missing.ts';\nexport default nothing;\n");
      await assert.rejects(importCompiledTs(join(dir, 'broken.ts'), 'v1'), /Could not resolve "\.\/missing\.ts" \(.*broken\.ts:1\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
