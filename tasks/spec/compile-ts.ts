// A TypeScript spec, imported by a process without tsx's loader (the compiled copy in
// build/js: the lab agent, a lean `serve`).  esbuild bundles the spec with what it imports
// (`defineLab`, a helper file, a package — resolved from the spec's folder, as tsx would)
// into one ES module in a folder of its own, which is imported and removed: nothing is left
// beside the user's file or in /tmp.  esbuild's service process is stopped after each build,
// so a long-lived process keeps no helper running.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** What each spec compiled to, by path and the text's hash: imported again, as the module cache under tsx would give it (the lab agent loads its spec on every request). */
const compiled = new Map<string, Promise<{ default?: unknown }>>();

/** `version`: the spec's text hash (load.ts has it); the same file and text are compiled once per process. */
export function importCompiledTs(file: string, version: string): Promise<{ default?: unknown }> {
  const key = `${file}\0${version}`;
  let mod = compiled.get(key);
  if (!mod) {
    mod = compileAndImport(file);
    compiled.set(key, mod);
    // A failed compile is not kept: the file may be fixed without its text changing what it imports.
    mod.catch(() => compiled.delete(key));
  }
  return mod;
}

async function compileAndImport(file: string): Promise<{ default?: unknown }> {
  const esbuild = await import('esbuild');
  let code: string;
  try {
    const out = await esbuild.build({
      entryPoints: [file],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      logLevel: 'silent',
    });
    code = out.outputFiles[0]!.text;
  } catch (err) {
    // esbuild's message lists each error with its place: the first is the one to show.
    const first = (err as { errors?: Array<{ text: string; location?: { file: string; line: number } }> }).errors?.[0];
    throw new Error(first ? `${first.text}${first.location ? ` (${first.location.file}:${first.location.line})` : ''}` : (err as Error).message);
  } finally {
    await esbuild.stop();
  }
  const dir = mkdtempSync(join(tmpdir(), 'grainchart-spec-'));
  try {
    const compiled = join(dir, 'spec.mjs');
    writeFileSync(compiled, code);
    return (await import(pathToFileURL(compiled).href)) as { default?: unknown };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
