import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closestNames, planRun, renderHelp, renderTaskList, type TaskDef } from '../../tasks/cli/registry.ts';
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
  it('exits 2 on an unknown option and on missing arguments', async () => {
    const { o, io: sink } = io();
    assert.equal(await runCli([t('x')], ['x', '--nope'], sink), 2);
    assert.match(o.err, /Unknown option '--nope'/);
    assert.equal(await runCli([t('y', [], { args: [{ name: 'VM', doc: '' }] })], ['y'], sink), 2);
    assert.match(o.err, /y: missing VM/);
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
