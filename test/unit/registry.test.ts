import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planRun, renderHelp, renderTaskList, type TaskDef } from '../../tasks/cli/registry.ts';
import { closestNames } from '../../tasks/util/closest.ts';
import { runCli } from '../../tasks/cli/main.ts';

const t = (name: string, depends?: string[], extra: Partial<TaskDef> = {}): TaskDef => ({ name, doc: `does ${name}`, depends, run: () => {}, ...extra });
const map = (...ts: TaskDef[]) => new Map(ts.map((x) => [x.name, x]));

describe('planRun', () => {
  it('runs dependencies depth-first, each once', () => {
    const tasks = map(t('a', ['b', 'c']), t('b', ['d']), t('c', ['d']), t('d'));
    assert.deepEqual(planRun(tasks, 'a'), ['d', 'b', 'c', 'a']);
  });
  it('reports a cycle with its path', () => {
    const tasks = map(t('a', ['b']), t('b', ['c']), t('c', ['a']));
    assert.throws(() => planRun(tasks, 'a'), { message: 'dependency cycle: a → b → c → a' });
  });
  it('reports an unknown dependency', () => {
    assert.throws(() => planRun(map(t('a', ['zz'])), 'a'), /unknown task zz/);
  });
});

describe('listing and help', () => {
  it('hides private tasks and pads names', () => {
    const text = renderTaskList([t('up'), t('disk-create'), t('-secret'), t('internal', [], { hidden: true })]);
    assert.match(text, /^up {11}does up$/m);
    assert.match(text, /^disk-create {2}does disk-create$/m);
    assert.doesNotMatch(text, /secret|internal/);
  });
  it('shows usage, arguments and options', () => {
    const help = renderHelp(t('exec', [], { args: [{ name: 'VM', doc: 'the VM' }], options: [{ name: 'force', type: 'boolean', doc: 'really' }] }));
    assert.match(help, /^Usage: npx tsx tasks.ts exec VM \[options\]/);
    assert.match(help, /VM {2}the VM/);
    assert.match(help, /--force\s+really/);
    assert.match(help, /--json/);
  });
  it('names each option’s value, puts options before a -- and tells what a task runs first, not its private name', () => {
    const setup = t('-setup', [], { doc: 'installs what is missing with apt-get' });
    const exec = t('exec', [], {
      args: [
        { name: 'VM', doc: 'the VM' },
        { name: 'CMD', doc: 'the command', variadic: true },
      ],
      options: [{ name: 'timeout', type: 'string', value: 'SECONDS', doc: 'how long' }],
    });
    const help = renderHelp(exec, [setup]);
    assert.match(help, /^Usage: npx tsx tasks.ts exec VM \[options\] -- CMD\.\.\.$/m);
    assert.match(help, /--timeout SECONDS +how long/);
    assert.match(help, /--spec FILE /);
    assert.match(help, /^Before it runs: installs what is missing with apt-get$/m);
    assert.doesNotMatch(help, /-setup|VALUE/);
    assert.doesNotMatch(renderHelp(t('doctor', [], { withoutLab: true })), /--spec/);
  });
  it('shows a lab argument --spec can stand for as one or the other, and leaves asking for it to the task', async () => {
    let ran = 0;
    const up = t('up', [], { args: [{ name: 'LAB', doc: 'a lab', orSpec: true }], run: () => void ran++ });
    assert.match(renderHelp(up), /^Usage: npx tsx tasks.ts up LAB\|--spec FILE \[options\]$/m);
    assert.match(renderHelp(up), /LAB {2}a lab \(or --spec FILE instead\)/);
    assert.equal(await runCli([up], ['up'], { stdout: () => {}, stderr: () => {} }), 0);
    assert.equal(ran, 1);
  });
  it('every string option of the kit’s tasks names its value', async () => {
    const { tasks } = await import('../../tasks.ts');
    const unnamed = tasks.flatMap((task) => (task.options ?? []).filter((o) => o.type === 'string' && !o.value).map((o) => `${task.name} --${o.name}`));
    assert.deepEqual(unnamed, []);
  });
});

describe('closestNames', () => {
  it('suggests near names', () => {
    assert.deepEqual(closestNames('dokter', ['doctor', 'demo', 'disk-info']), ['doctor']);
    assert.deepEqual(closestNames('disk', ['disk-create', 'disk-info', 'demo']), ['disk-create', 'disk-info']);
    assert.deepEqual(closestNames('zzzzzz', ['doctor']), []);
  });
});

describe('runCli', () => {
  const io = () => {
    const o = { out: '', err: '' };
    return { o, io: { stdout: (s: string) => void (o.out += s), stderr: (s: string) => void (o.err += s) } };
  };
  it('exits 1 on an unknown task, with suggestions', async () => {
    const { o, io: sink } = io();
    assert.equal(await runCli([t('doctor')], ['docter'], sink), 1);
    assert.match(o.err, /^No such task: docter\nDid you mean: doctor/);
  });
  it('exits 2 on an unknown option, in the kit’s words with the task’s --help, and on missing arguments', async () => {
    const { o, io: sink } = io();
    const x = t('x', [], { options: [{ name: 'junit', type: 'string', value: 'FILE', doc: '' }] });
    assert.equal(await runCli([x], ['x', '--jnit', 'a.xml'], sink), 2);
    assert.match(o.err, /^error: x: unknown option --jnit; did you mean --junit\?\n {2}hint: npx tsx tasks.ts x --help\n/);
    assert.doesNotMatch(o.err, /Unknown option '|To specify a positional/);
    assert.equal(await runCli([t('y', [], { args: [{ name: 'VM', doc: '' }] })], ['y'], sink), 2);
    assert.match(o.err, /y: missing VM/);
  });
  it('says which value an option lacks, and that a switch takes none', async () => {
    const x = t('x', [], { options: [{ name: 'junit', type: 'string', value: 'FILE', doc: '' }] });
    for (const [argv, want] of [
      [['x', '--junit'], /x: --junit needs a value: --junit FILE\n/],
      [
        ['x', '--junit', '--json'],
        /x: --junit needs a value: --junit FILE \(--json looks like the next option; a value starting with - goes as --junit=--json\)/,
      ],
      [['x', '--json=yes'], /x: --json is a switch and takes no value \(--json=yes\)/],
    ] as const) {
      const { o, io: sink } = io();
      assert.equal(await runCli([x], [...argv], sink), 2, argv.join(' '));
      assert.match(o.err, want);
    }
  });
  it('refuses --spec on a task that takes no lab, and takes it on one that does', async () => {
    const a = io();
    assert.equal(await runCli([t('doctor', [], { withoutLab: true })], ['doctor', '--spec', 'lab.json'], a.io), 2);
    assert.match(a.o.err, /doctor: unknown option --spec \(doctor takes no lab\)/);
    let spec: string | undefined;
    const b = io();
    assert.equal(await runCli([t('up', [], { run: (c) => void (spec = c.spec) })], ['up', '--spec', 'lab.json'], b.io), 0);
    assert.equal(spec, 'lab.json');
  });
  it('leaves words after -- to the guest, options and all', async () => {
    let args: string[] = [];
    const exec = t('exec', [], {
      args: [
        { name: 'VM', doc: '' },
        { name: 'CMD', doc: '', variadic: true },
      ],
      run: (c) => void (args = c.args),
    });
    const { io: sink } = io();
    assert.equal(await runCli([exec], ['exec', 'l1', '--', 'ls', '--nope', '-la'], sink), 0);
    assert.deepEqual(args, ['l1', 'ls', '--nope', '-la']);
  });
  it('runs dependencies before the task, without its arguments', async () => {
    const seen: string[] = [];
    const rec = (name: string, depends?: string[]) =>
      t(name, depends, { args: [{ name: 'A', doc: '', optional: true }], run: (c) => void seen.push(`${c.task}(${c.args.join(',')})`) });
    const { io: sink } = io();
    assert.equal(await runCli([rec('a', ['b']), rec('b')], ['a', 'z'], sink), 0);
    assert.deepEqual(seen, ['b()', 'a(z)']);
  });
  it('sends --json results to stdout and human text otherwise', async () => {
    const task = t('r', [], { run: (c) => c.out.result({ n: 1 }, 'one') });
    const a = io();
    await runCli([task], ['r', '--json'], a.io);
    assert.deepEqual(JSON.parse(a.o.out), { n: 1 });
    const b = io();
    await runCli([task], ['r'], b.io);
    assert.equal(b.o.out, 'one\n');
  });
});
