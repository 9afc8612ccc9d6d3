// Bad input at every entry: each a clear error naming what is wrong, exit 2, and nothing
// changed.  (Malformed specs: test/unit/spec-errors.test.ts has 50 of them.)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { kit } from '../helpers/cli.ts';
import { tinyLab, type TestLab } from '../helpers/vm.ts';

describe('bad input', () => {
  let lab: TestLab;
  before(async () => {
    lab = await tinyLab('bad', [{ name: 'b1' }]);
  });
  after(() => lab.cleanup());

  it('refuses each with exit 2 and a message naming the problem, writing nothing', () => {
    const cases: [string[], RegExp][] = [
      [['exec', 'nope', '--', 'true'], /no VM named "nope"/],
      [['boot', 'nope'], /no VM named "nope"/],
      [['snapshot', 'b1', '--name', '../x'], /--name/],
      [['snapshot', 'b1', '--name', '123'], /all digits/],
      [['snapshot', 'b1', '--name', 'a'.repeat(200)], /at most 127/],
      [['snapshot', 'b1', '--name', 'x.lock'], /--name/],
      [['restore', 'b1'], /missing NAME|needs a snapshot NAME/],
      [['graintime', 'parse', '12025-11-02--1515--pdt--moon-nowhere--asc-pisc00--sun-09h--kae3g'], /moon/],
      [['graintime', 'parse', '12025-02-30--1515--pdt--moon-ashwini--asc-pisc00--sun-09h--kae3g'], /day: 30/],
      [['graintime', '--at', 'soon'], /--at/],
      [['cp', 'b1:../../etc/shadow', './x'], /"\.\." is not allowed/],
      [['cp', 'b1:/root/../../etc/shadow', './x'], /"\.\." is not allowed/],
      [['cp', './a', './b'], /exactly one side must be VM:path/],
      [['watch', '--interval', '0'], /--interval/],
      [['watch', '--count', '-1'], /--count/],
      [['tree', '--width', '5'], /--width/],
      [['stop', 'b1', '--timeout', 'soon'], /--timeout/],
      [['boot', 'b1', '--frobnicate'], /Unknown option|frobnicate/],
      [['schema', 'nothing'], /no schema named/],
      [['smoke', '--junit', '/nonexistent/dir/x.xml'], /--junit: the folder/],
      [['install', 'b1', '--iso', '/nonexistent.iso'], /does not exist/],
      [['nix-config', 'b1'], /not a NixOS guest/],
    ];
    for (const [args, message] of cases) {
      const r = kit(['--spec', lab.spec, ...args], { env: lab.env });
      assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /^\s+at .*\.ts:\d+/m, `${args.join(' ')}: a stack trace`);
    }
    // Nothing was made for the lab but its (empty) folder and keys, if that.
    assert.ok(!readdirSync(lab.home).some((f) => f.endsWith('.qcow2')));
  });

  it('refuses oversized values in a spec', () => {
    for (const [vm, what] of [
      [{ name: 'b1', boot: { image: 'tiny' }, memory: '64T' }, /memory/],
      [{ name: 'b1', boot: { image: 'tiny' }, cpus: 100000 }, /cpus/],
      [{ name: 'b'.repeat(64), boot: { image: 'tiny' } }, /name/],
      [{ name: 'b1', boot: { image: 'tiny' }, network: { sshPort: 70000 } }, /sshPort/],
    ] as const) {
      const r = kit(['--spec', '-', 'spec'], { input: JSON.stringify({ name: 'x', vms: [vm] }) });
      assert.equal(r.status, 2, JSON.stringify(vm));
      assert.match(r.stderr, what);
    }
  });
});
