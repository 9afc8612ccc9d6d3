// The rooms of tasks/ stand in layers: each imports only rooms of its own layer or below,
// never one above, so a boot, stop, status or chart path cannot grow a hidden dependency on
// something built over it (image building, reports, the tasks themselves).  Type-only
// imports count too: a type from above is a sign the code sits in the wrong room.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';

/** Each room's layer, bottom first; rooms of one layer may import each other. */
const LAYERS: string[][] = [
  ['util'],
  ['spec', 'cli'],
  ['qemu'],
  ['ssh', 'console'],
  ['machine'],
  ['image', 'cloud'],
  ['vm'],
  ['lab', 'stats', 'agent'],
  ['chart', 'graintime', 'nix', 'explain', 'smoke', 'snapshot', 'suspend', 'doc', 'serve'],
  ['cmd'],
];
const tasksDir = join(PROJECT_ROOT, 'tasks');
const layerOf = (room: string) => LAYERS.findIndex((l) => l.includes(room));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sourceFiles(p) : n.endsWith('.ts') ? [p] : [];
  });
}
const roomOf = (file: string) => relative(tasksDir, file).split('/')[0]!;

describe('tasks/ rooms', () => {
  it('every room has a layer, and no file sits loose in tasks/', () => {
    const rooms = readdirSync(tasksDir);
    assert.deepEqual(
      rooms.filter((r) => !statSync(join(tasksDir, r)).isDirectory()),
      [],
    );
    assert.deepEqual(
      rooms.filter((r) => layerOf(r) < 0),
      [],
    );
  });

  it('every folder has one main file that opens with its why-note (// tasks/FOLDER/: …), and at most 16 files', () => {
    const folders = (dir: string): string[] => [dir, ...readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? folders(join(dir, n)) : []))];
    const problems: string[] = [];
    for (const dir of folders(tasksDir).slice(1)) {
      const rel = relative(tasksDir, dir);
      const files = readdirSync(dir).filter((n) => n.endsWith('.ts'));
      const mains = files.filter((n) => readFileSync(join(dir, n), 'utf8').startsWith(`// tasks/${rel}/:`));
      if (mains.length !== 1) problems.push(`${rel}: ${mains.length} main files (${mains.join(', ') || 'none'})`);
      if (files.length > 16) problems.push(`${rel}: ${files.length} files`);
    }
    assert.deepEqual(problems, []);
  });

  it('no source file is over 300 lines', () => {
    const long = sourceFiles(tasksDir)
      .map((f) => [relative(tasksDir, f), readFileSync(f, 'utf8').split('\n').length - 1] as const)
      .filter(([, n]) => n > 300);
    assert.deepEqual(long, []);
  });

  it('imports nothing from a layer above its own', () => {
    const upward: string[] = [];
    for (const f of sourceFiles(tasksDir)) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        const target = resolve(dirname(f), m[1]!);
        if (!target.startsWith(`${tasksDir}/`)) continue;
        if (layerOf(roomOf(target)) > layerOf(roomOf(f))) upward.push(`${relative(tasksDir, f)} → ${relative(tasksDir, target)}`);
      }
    }
    assert.deepEqual(upward, []);
  });
});
