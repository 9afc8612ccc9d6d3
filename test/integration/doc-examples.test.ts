// The README's and docs' shell examples that boot nothing, run as written: in bash with
// pipefail, from a scratch folder that has the checkout's tasks.ts and node_modules (so a
// `> demo.ssh` lands there, not in the checkout), with an empty state folder and the README's
// first lab saved as `mine` (GRAINCHART_SPECS).  Examples that boot, stop or change a lab are
// left to the suites that boot guests.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';
import { firstLabSpecs, shellCommands, userPages } from '../helpers/doc-pages.ts';

/** Tasks that read specs and state and write nothing into a lab. */
const BOOTS_NOTHING = new Set([
  'spec',
  'explain',
  'schema',
  'labs',
  'ssh-config',
  'libvirt-xml',
  'tasks',
  'graintime',
  'tree',
  'alloc',
  'topology',
  'status',
  'list',
]);
const KIT = /npx tsx tasks\.ts\s+(\S+)/g;

/** A line runs when it calls the kit, only tasks that boot nothing (or any task's --help), and no other program but filters. */
function runnable(line: string): boolean {
  const calls = [...line.matchAll(KIT)].map((m) => m[1]!);
  if (!calls.length) return false;
  if (/(^|[|;&]\s*)(sudo|ssh|scp|npm)\b/.test(line)) return false;
  return calls.every((t) => BOOTS_NOTHING.has(t)) || /--help\b/.test(line);
}

describe('the parameters flow docs/booting.md describes', () => {
  it('is the order explain prints, section for section (nixos-sway has them all)', () => {
    const page = readFileSync(join(PROJECT_ROOT, 'docs/booting.md'), 'utf8');
    const told = /in this order: ([^(]+?) \(/.exec(page.replace(/\s+/g, ' '))?.[1]?.split(' → ');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'tasks.ts'), 'explain', 'nixos-sway', '--width', '200'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const printed = [...r.stdout.matchAll(/^\s*\d+\. (\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(told, printed);
  });
});

describe('the shell examples of the README and docs', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gc-docex-'));
    for (const f of ['tasks.ts', 'node_modules', 'package.json']) symlinkSync(join(PROJECT_ROOT, f), join(dir, f));
    const specs = join(dir, 'my-labs');
    mkdirSync(specs);
    writeFileSync(join(specs, 'mine.json'), firstLabSpecs(readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8'))[0]!);
    env = { ...process.env, GRAINCHART_HOME: join(dir, 'state'), GRAINCHART_SPECS: specs, GRAINCHART_AGENT: '0', NO_COLOR: '1' };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('run as written, and exit 0', { timeout: 300_000 }, () => {
    const ran: string[] = [];
    for (const page of userPages()) {
      for (const line of shellCommands(readFileSync(join(PROJECT_ROOT, page), 'utf8'))) {
        if (!runnable(line)) continue;
        const r = spawnSync('bash', ['-o', 'pipefail', '-c', line], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
        assert.equal(r.status, 0, `${page}: ${line}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
        assert.ok(r.stdout.trim() || line.includes('>'), `${page}: ${line} printed nothing`);
        ran.push(`${page}: ${line}`);
      }
    }
    // The README's first lab, and the examples the docs promise: spec, explain, schema, labs, ssh-config, pipelines.
    for (const want of [/spec mine$/, /explain l1/, /schema spec \|/, / labs/, /ssh-config demo/, /spec demo --json \| npx tsx tasks.ts spec --spec -/])
      assert.ok(
        ran.some((r) => want.test(r)),
        `no example matching ${want} ran:\n${ran.join('\n')}`,
      );
  });
});
