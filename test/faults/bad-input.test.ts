// Bad input at every entry: each a clear error naming what is wrong, exit 2, and nothing
// changed.  (Malformed specs: test/unit/spec-errors.test.ts has 50 of them.)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
      [['doctor', '--spec', 'x.json'], /doctor: unknown option --spec \(doctor takes no lab\)/],
      [['smoke', '--junit', '/nonexistent/dir/x.xml'], /--junit \/nonexistent\/dir\/x\.xml: its folder \/nonexistent\/dir does not exist/],
      [['install', 'b1', '--iso', '/nonexistent.iso'], /--iso \/nonexistent\.iso: not found/],
      [['nix-config', 'b1'], /not a NixOS guest/],
    ];
    // Tasks that take no lab refuse --spec: they are run without it.
    const withoutLab = new Set(['graintime', 'schema']);
    for (const [args, message] of cases) {
      const r = kit([...(withoutLab.has(args[0]!) ? [] : ['--spec', lab.spec]), ...args], { env: lab.env });
      assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /^\s+at .*\.ts:\d+/m, `${args.join(' ')}: a stack trace`);
    }
    // Nothing was made for the lab but its (empty) folder and keys, if that.
    assert.ok(!readdirSync(lab.home).some((f) => f.endsWith('.qcow2')));
  });

  // Each class of issue 16 at the command line: a file that is no spec, a path where the kit
  // keeps its own files, text that would become syntax, shapes that overflowed the stack.
  it('refuses each class of bad spec by its file and field, exit 2, writing nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gc-bad-'));
    const state = join(dir, 'state');
    try {
      mkdirSync(join(dir, 'folder.json'));
      writeFileSync(join(dir, 'lab.yaml'), 'name: x\n');
      writeFileSync(join(dir, 'throws.ts'), "throw new Error('spec exploded');\n");
      const vm = (extra: object) =>
        JSON.stringify({ name: 'x', vms: [{ name: 'v', boot: { image: 'tiny' }, disk: { file: 'v.qcow2', size: '1G' }, ...extra }] });
      const files: Array<[string, string[], RegExp]> = [
        [join(dir, 'folder.json'), ['spec'], /folder\.json: is a folder/],
        [join(dir, 'lab.yaml'), ['spec'], /lab\.yaml: is YAML/],
        [join(dir, 'throws.ts'), ['spec'], /throws\.ts: could not be loaded: .*spec exploded/],
      ];
      for (const [file, args, message] of files) {
        const r = kit(['--spec', file, ...args], { env: { GRAINCHART_HOME: state } });
        assert.equal(r.status, 2, `${file}: exit ${r.status} ${r.stderr}`);
        assert.match(r.stderr, message);
      }
      const specs: Array<[string, string[], RegExp]> = [
        [vm({ disk: { file: 'serial.log', size: '1G' } }), ['disk-create', 'v'], /vms\[0\]\.disk\.file: "serial\.log" is the kit's own/],
        [vm({ disk: { file: '../../escape.qcow2', size: '1G' } }), ['disk-create', 'v'], /leaves the VM's state folder/],
        [vm({ name: 'ssh' }), ['disk-create', 'ssh'], /vms\[0\]\.name: "ssh" is kept for the lab's own folder/],
        [vm({ title: 'a\u001b]0;pwned\u0007' }), ['explain', 'v'], /vms\[0\]\.title: must not contain the control character \\x1b/],
        [vm({ memory: 1 }), ['spec'], /vms\[0\]\.memory: 1 is less than the 32 MiB/],
        [`{"name":"x","vms":[${'{"children":['.repeat(3000)}${']}'.repeat(3000)}]}`, ['spec'], /nested more than 64 levels/],
        [
          JSON.stringify({ name: 'x', vms: [{ name: 'v', boot: { image: 'tiny' }, '\u001b[2Jforged': 1 }] }),
          ['spec'],
          /vms\[0\]\["\\u001b\[2Jforged"\]: unknown key/,
        ],
      ];
      for (const [input, args, message] of specs) {
        const r = kit(['--spec', '-', ...args], { input, env: { GRAINCHART_HOME: state } });
        assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
        assert.match(r.stderr, message, args.join(' '));
        assert.doesNotMatch(r.stderr, /\u001b/, 'a terminal escape reached stderr');
      }
      assert.deepEqual(readdirSync(dir).sort(), ['folder.json', 'lab.yaml', 'throws.ts'], 'something was written');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts what is allowed but says what is risky, and quotes titles for QEMU', () => {
    const spec = JSON.stringify({ name: 'x', vms: [{ name: 'v', title: 'My lab, v2', boot: { image: 'tiny' }, network: { sshPort: 2399, bind: '0.0.0.0' } }] });
    const r = kit(['--spec', '-', 'spec', '--json'], { input: spec });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: vms\[0\]\.network\.bind: 0\.0\.0\.0 is not loopback/);
    const e = kit(['--spec', '-', 'explain', 'v', '--json'], { input: spec });
    assert.equal(e.status, 0, e.stderr);
    const args = (JSON.parse(e.stdout) as Array<{ args: string[] }>).flatMap((section) => section.args);
    assert.equal(args[args.indexOf('-name') + 1], 'My lab,, v2');
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
