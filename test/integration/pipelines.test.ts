// Pipelines through a real shell: JSON on stdout only, names from stdin, JSON Schemas that
// validate what the tasks really print, run-in with a local script, quiet closed pipes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { kit, TASKS } from '../helpers/cli.ts';
import { qemusUnder, tinyLab, type TestLab } from '../helpers/vm.ts';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';
import { Snapshots, Stats, Status } from '../../tasks/cmd/shapes.ts';

const KIT = `${process.execPath} --import tsx ${TASKS}`;

describe('pipelines', () => {
  let lab: TestLab & { ports: Record<string, number> };
  const env = () => ({ ...process.env, ...lab.env, GRAINTIME_CONFIG: '/nonexistent.json' });
  /** A pipeline in bash with pipefail, so the kit's own exit code counts. */
  const sh = (script: string, input = '') =>
    spawnSync('bash', ['-o', 'pipefail', '-c', script], { cwd: PROJECT_ROOT, env: env(), encoding: 'utf8', input, timeout: 120_000 });
  const k = (...args: string[]) => kit(['--spec', lab.spec, ...args], { env: { ...lab.env, GRAINTIME_CONFIG: '/nonexistent.json' } });
  const ok = <T extends { status: number | null; stderr: string }>(r: T) => {
    assert.equal(r.status, 0, r.stderr);
    return r;
  };
  const schemaOf = (name: string) => JSON.parse(ok(kit(['schema', name])).stdout);
  const validator = (name: string) => new Ajv2020({ strict: false, allErrors: true }).compile(schemaOf(name));

  before(async () => {
    lab = await tinyLab('pipes', [{ name: 'p1' }, { name: 'p2' }]);
    ok(k('boot', 'p1', '--quiet'));
  });
  after(() => {
    k('stop', 'p1', '--force');
    lab.cleanup();
  });

  it('status → jq filter → snapshot -: only the running VM is snapshotted', () => {
    const r = sh(`${KIT} --spec ${lab.spec} status --json | jq -r '.[]|select(.state=="running").name' | ${KIT} --spec ${lab.spec} snapshot - --json`);
    assert.equal(r.status, 0, r.stderr);
    const made = JSON.parse(r.stdout);
    assert.deepEqual(
      made.map((s: { vm: string; how: string }) => [s.vm, s.how]),
      [['p1', 'live']],
    );
    // Names as a JSON array work too, and the list decodes the graintime name.
    const listed = sh(`echo '["p1"]' | ${KIT} --spec ${lab.spec} snapshots - --json`);
    assert.equal(listed.status, 0, listed.stderr);
    assert.equal(JSON.parse(listed.stdout)[0].name, made[0].name);
    assert.ok(JSON.parse(listed.stdout)[0].stamp.fields.holoceneYear > 12000);
  });

  it('runs the task once per piped name, reports each failure, and exits with the worst code', () => {
    const r = sh(`printf 'p1\\nnope\\n' | ${KIT} --spec ${lab.spec} snapshots - --json`);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /nope: error: no VM named "nope"/);
    // p1's answer still arrives, as one JSON document.
    assert.ok(JSON.parse(r.stdout).every((s: { vm: string }) => s.vm === 'p1'));
    const both = sh(`${KIT} --spec ${lab.spec} --spec - snapshot -`, '');
    assert.equal(both.status, 2);
    const empty = sh(`printf '' | ${KIT} --spec ${lab.spec} snapshot -`);
    assert.equal(empty.status, 2);
    assert.match(empty.stderr, /no names on stdin/);
  });

  it('round-trips a spec through a shell pipe', () => {
    const r = sh(`${KIT} spec demo --json | ${KIT} spec --spec - --json`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, ok(kit(['spec', 'demo', '--json'])).stdout);
  });

  it('ends quietly when stdout closes: watch --json --count 2 | head -1', () => {
    const r = sh(`${KIT} --spec ${lab.spec} watch --json --count 2 --interval 1 | head -1`);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /Error|at .*\.ts:\d+/);
    const line = JSON.parse(r.stdout);
    assert.deepEqual(
      line.vms.map((v: { name: string }) => v.name),
      ['p1', 'p2'],
    );
    assert.ok(Stats.safeParse(line.vms).success);
  });

  it('publishes JSON Schemas that validate what status, chart-vm, snapshots and spec print', () => {
    const cases: [string, string[], { safeParse: (x: unknown) => { success: boolean } } | undefined][] = [
      ['status', ['status', '--json'], Status],
      ['stats', ['chart-vm', '--json'], Stats],
      ['snapshots', ['snapshots', 'p1', '--json'], Snapshots],
    ];
    for (const [schema, args, zodShape] of cases) {
      const data = JSON.parse(ok(k(...args)).stdout);
      const validate = validator(schema);
      assert.ok(validate(data), `${schema}: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
      assert.ok(zodShape!.safeParse(data).success, `${schema}: zod shape`);
    }
    const spec = validator('spec');
    for (const labName of JSON.parse(ok(kit(['labs', '--json'])).stdout) as string[]) {
      const data = JSON.parse(ok(kit(['spec', labName, '--json'])).stdout);
      assert.ok(spec(data), `${labName}: ${JSON.stringify(spec.errors?.slice(0, 3))}`);
    }
    // A schema that cannot fail is no schema: a wrong document is refused.
    assert.equal(spec({ name: 'x', vms: [{ name: 'a', cpus: 'two' }] }), false);
    assert.equal(validator('status')([{ name: 'p1' }]), false);
    assert.equal(kit(['schema', 'nope']).status, 2);
  });

  it('run-in copies a local script into the guest, runs it with its arguments, and passes its exit code on', () => {
    const withShebang = join(lab.home, 'probe.sh');
    writeFileSync(withShebang, '#!/bin/sh\necho "in $(hostname): $*"\necho to-stderr >&2\nexit 3\n');
    chmodSync(withShebang, 0o755);
    const r = k('run-in', 'p1', '--', withShebang, 'a b', 'c');
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, 'in p1: a b c\n');
    assert.match(r.stderr, /to-stderr/);
    const plain = join(lab.home, 'plain');
    writeFileSync(plain, 'echo plain; ls /tmp | grep -c gc-run-\n');
    const p = k('run-in', 'p1', '--json', '--', plain);
    assert.equal(p.status, 0, p.stderr);
    // During the run its own folder exists; afterwards nothing is left behind.
    assert.deepEqual(JSON.parse(p.stdout).stdout.split('\n').slice(0, 2), ['plain', '1']);
    assert.equal(ok(k('exec', 'p1', '--', 'ls /tmp | grep -c gc-run- || true')).stdout.trim(), '0');
    const missing = k('run-in', 'p1', '--', join(lab.home, 'absent.sh'));
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /cannot read the script/);
  });

  it('leaves no QEMU of its own after stop', () => {
    ok(k('stop', 'p1', '--force'));
    assert.deepEqual(qemusUnder(lab.home), []);
  });
});
