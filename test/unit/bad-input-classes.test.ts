// Bad input that used to slip through (issue 16), one describe per class; the per-field
// spec cases are in spec-errors.test.ts.  Each test fails when its rule is taken out.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../tasks/cli/main.ts';
import { tasks } from '../../tasks.ts';
import { defaultMemory, resolveLab } from '../../tasks/spec/resolve.ts';
import { shapeProblem, specWarnings } from '../../tasks/spec/checks.ts';
import { listLabs, loadLab, loadVm } from '../../tasks/spec/load.ts';
import { MAX_SOCKET_PATH, socketPath, stateRoot, vmPaths } from '../../tasks/util/paths.ts';
import { agentPaths } from '../../tasks/agent/client.ts';
import { formatError, SpecError, SpecFileError, UsageError } from '../../tasks/util/errors.ts';
import { qemuArgs } from '../../tasks/qemu/args.ts';
import { renderConfiguration } from '../../tasks/nix/render.ts';
import { fence, mdText } from '../../tasks/doc/render.ts';
import { allocData, renderAlloc } from '../../tasks/chart/lab-charts.ts';
import { parseInstant } from '../../tasks/cmd/graintime.ts';
import { localTime, zoneWord } from '../../tasks/graintime/local-time.ts';
import { createDisk } from '../../tasks/qemu/disk-image.ts';
import { BIG_HOST } from '../helpers/probes.ts';

const tinyVm = (extra: Record<string, unknown> = {}) => ({ name: 'v', boot: { image: 'tiny' }, ...extra });
const lab = (vms: unknown[], extra: Record<string, unknown> = {}) => ({ name: 'lab', vms, ...extra });

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(tasks, args, { stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
  return { code, out, err };
}

describe('class 1: cross-field rules', () => {
  it('a child of a small parent defaults to a memory it can boot with, and the spec round-trips', () => {
    assert.equal(defaultMemory({ memory: 40 }), 32);
    const spec = lab([{ name: 'p', memory: 40, boot: { image: 'tiny-nest' }, children: [tinyVm({ name: 'c' })] }]);
    const once = resolveLab(spec, BIG_HOST, 't');
    assert.equal(once.vms[0]!.children[0]!.memory, 32);
    // What `spec --json` prints is a spec `spec --spec -` takes back unchanged.
    assert.deepEqual(resolveLab(JSON.parse(JSON.stringify(once)), BIG_HOST, 't'), once);
  });

  it('a forward on every interface is a warning naming its field; loopback is not', () => {
    const open = resolveLab(
      lab([tinyVm({ network: { sshPort: 2300, bind: '0.0.0.0', forwards: [{ host: 8080, guest: 80, bind: '192.168.1.5' }] } })]),
      BIG_HOST,
      't',
    );
    const w = specWarnings(open);
    assert.deepEqual(
      w.map((x) => x.path),
      ['vms[0].network.bind', 'vms[0].network.forwards[0].bind'],
    );
    assert.match(w[0]!.message, /every network/);
    assert.deepEqual(specWarnings(resolveLab(lab([tinyVm({ network: { sshPort: 2300, bind: '127.0.0.2' } })]), BIG_HOST, 't')), []);
  });

  it('a host reserve larger than the host is charted as all of it, with a warning, never a negative rest', () => {
    const l = resolveLab(lab([tinyVm({ memory: 256 })], { host: { reserve: { memory: '64G', cpus: 8 } } }), BIG_HOST, 't');
    const host = { title: 'h', memoryMiB: 4096, cpus: 2, accel: 'tcg' };
    const d = allocData(l, host as never);
    assert.equal(d.reserve.memoryMiB, 4096);
    assert.equal(d.reserve.cpus, 2);
    assert.ok(
      d.warnings.some((w) => /host\.reserve\.memory .* more than this host has/.test(w)),
      d.warnings.join('\n'),
    );
    const text = renderAlloc(d, { width: 100, ascii: true, color: false });
    assert.doesNotMatch(text, /-\d/, text);
  });
});

describe('class 2: files where they must not go', () => {
  it('a disk that is another VM’s backing file is a warning (a base prepared for its clones), two writers one refusal', () => {
    const l = resolveLab(
      lab([
        tinyVm({ name: 'base', disk: { file: '~/base.qcow2', size: '1G' } }),
        tinyVm({ name: 'clone', disk: { file: 'c.qcow2', backing: '~/base.qcow2' } }),
      ]),
      BIG_HOST,
      't',
    );
    assert.deepEqual(
      specWarnings(l).map((w) => [w.path, /booting this VM changes the base/.test(w.message)]),
      [['vms[0].disk.file', true]],
    );
    assert.throws(
      () =>
        resolveLab(
          lab([tinyVm({ name: 'a', disk: { file: '/srv/one.qcow2', size: '1G' } }), tinyVm({ name: 'b', disk: { file: '/srv/./one.qcow2', size: '1G' } })]),
          BIG_HOST,
          't',
        ),
      /vms\[1\]\.disk\.file: \/srv\/\.\/one\.qcow2 is also vms\[0\]\.disk\.file: two VMs writing one disk/,
    );
  });

  it('a disk the kit creates is its owner’s alone (0600)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gc-disk-'));
    try {
      const file = join(dir, 'd.qcow2');
      await createDisk(file, { format: 'qcow2', size: 1 << 20 });
      assert.equal(statSync(file).mode & 0o777, 0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('disk-create of a nested VM refuses (its disk lives in the parent) and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gc-nested-'));
    const saved = process.env.GRAINCHART_HOME;
    process.env.GRAINCHART_HOME = join(dir, 'state');
    try {
      const file = join(dir, 'lab.json');
      writeFileSync(
        file,
        JSON.stringify(
          lab([{ name: 'p', memory: 512, boot: { cloudImage: 'debian-nest' }, children: [{ name: 'c', memory: 128, disk: { file: 'c.qcow2', size: '1G' } }] }]),
        ),
      );
      const r = await cli(['disk-create', 'c', '--spec', file]);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /runs inside p: its disk c\.qcow2 is made there/);
      assert.ok(!existsSync(join(dir, 'state')), 'a state folder was made');
    } finally {
      if (saved === undefined) delete process.env.GRAINCHART_HOME;
      else process.env.GRAINCHART_HOME = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('class 3: text that becomes syntax', () => {
  const kvm = { state: 'usable', reason: 'test' } as never;
  const paths = { home: '/root', vm: vmPaths('/s', 'lab', 'v') };

  it('a comma in a title is written twice in QEMU’s -name, so it cannot add a sub-option', () => {
    const l = resolveLab(lab([tinyVm({ title: 'My lab, v2,process=evil' })]), BIG_HOST, 't');
    const args = qemuArgs(l.vms[0]!, kvm, { ...paths, images: { tiny: { kernel: 'k', initrd: 'i' } } });
    assert.equal(args[args.indexOf('-name') + 1], 'My lab,, v2,,process=evil');
  });

  it('a nix comment never takes a line break, even from a spec that skipped the checker', () => {
    const l = resolveLab(lab([tinyVm({ nixos: { stateVersion: '24.05' } })]), BIG_HOST, 't');
    const text = renderConfiguration({ ...l.vms[0]!, title: 'x\nenvironment.etc.evil.text = "1";' }, 'lab');
    assert.ok(!text.split('\n').some((line) => line.startsWith('environment.etc.evil')), text);
  });

  it('Markdown: spec text is escaped, and a fence is longer than any backtick run inside it', () => {
    assert.equal(mdText('a *b* [x](y) <img> `c` (plain)'), 'a \\*b\\* \\[x\\](y) \\<img\\> \\`c\\` (plain)');
    const f = fence('title ``` ok ````');
    assert.ok(f.startsWith('`````text\n') && f.endsWith('\n`````'), f);
  });

  it('messages show control characters escaped, keeping line breaks', () => {
    const text = formatError(new UsageError('no VM named "\u001b[31mred"', 'a\u0007b'));
    assert.doesNotMatch(text, /[\u001b\u0007]/);
    assert.match(text, /\\x1b\[31mred/);
    assert.match(text, /\n {2}hint: a\\x07b/);
  });
});

describe('class 4: the loader says which file and what, exit 2', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gc-load-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const good = JSON.stringify(lab([tinyVm()]));
  const refused = async (file: string, message: RegExp) => {
    const r = await cli(['spec', '--spec', file]);
    assert.equal(r.code, 2, `${file}: ${r.err}`);
    assert.match(r.err, message, file);
    assert.ok(r.err.includes(file), `${r.err} does not name ${file}`);
    assert.doesNotMatch(r.err, /^\s+at /m, 'a stack trace');
  };

  it('a cycle in a .ts spec and a 5,000-deep document are spec errors, not stack overflows', async () => {
    const v: Record<string, unknown> = tinyVm();
    v.children = [v];
    assert.throws(
      () => resolveLab(lab([v]), BIG_HOST, 't'),
      (e: unknown) => e instanceof SpecError && /a cycle/.test(e.message) && e.problems[0]!.path === 'vms[0].children[0]',
    );
    const text = `{"name":"lab","vms":[${'{"children":['.repeat(2500)}${']}'.repeat(2500)}]}`;
    assert.match(shapeProblem(JSON.parse(text))?.message ?? '', /more than 64 levels/);
    const file = join(dir, 'deep.json');
    writeFileSync(file, text);
    await refused(file, /nested more than 64 levels/);
    const cyclic = join(dir, 'cyclic.ts');
    writeFileSync(cyclic, `const v: any = { name: 'v', boot: { image: 'tiny' } };\nv.children = [v];\nexport default { name: 'lab', vms: [v] };\n`);
    await refused(cyclic, /a cycle/);
  });

  it('a folder, YAML, an unknown extension, a missing file, a .ts that throws or does not parse', async () => {
    mkdirSync(join(dir, 'folder.json'));
    await refused(join(dir, 'folder.json'), /is a folder, not a spec file/);
    writeFileSync(join(dir, 'lab.yaml'), 'name: lab\n');
    await refused(join(dir, 'lab.yaml'), /is YAML; a spec is JSON \(\.json\) or TypeScript \(\.ts\)/);
    writeFileSync(join(dir, 'lab.txt'), good);
    await refused(join(dir, 'lab.txt'), /is not a spec file \(\.txt\)/);
    await refused(join(dir, 'missing.json'), /not found/);
    writeFileSync(join(dir, 'throws.ts'), `throw new Error('boom from the spec');\n`);
    await refused(join(dir, 'throws.ts'), /could not be loaded: .*boom from the spec/);
    writeFileSync(join(dir, 'broken.ts'), `export default { name: 'lab', vms: [ ;\n`);
    await refused(join(dir, 'broken.ts'), /could not be loaded/);
    writeFileSync(join(dir, 'bad.json'), '{"name": ');
    await refused(join(dir, 'bad.json'), /is not valid JSON/);
  });

  it('reads .JSON in capitals and JSON with a UTF-8 byte order mark', async () => {
    writeFileSync(join(dir, 'upper.JSON'), good);
    assert.equal((await loadLab(undefined, { spec: join(dir, 'upper.JSON') })).name, 'lab');
    writeFileSync(join(dir, 'bom.json'), `\ufeff${good}`);
    assert.equal((await loadLab(undefined, { spec: join(dir, 'bom.json') })).name, 'lab');
    assert.equal((await loadLab(undefined, { spec: '-', readStdin: async () => `\ufeff${good}` })).name, 'lab');
  });

  // An unreadable spec: bad-input-paths.test.ts, as nobody where the tests run as root.
});

describe('class 5: one bad file in specs/ does not break the others', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gc-specs-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a VM is still found by name beside a broken spec, and a missing one names the broken file', async () => {
    writeFileSync(join(dir, 'good.json'), JSON.stringify({ name: 'good', vms: [tinyVm({ name: 'g1' })] }));
    writeFileSync(join(dir, 'bad.json'), '{ not json');
    assert.equal((await loadVm('g1', { specsDir: dir })).place.vm.name, 'g1');
    await assert.rejects(
      loadVm('nope', { specsDir: dir }),
      (e: unknown) => e instanceof UsageError && /bad: .*bad\.json: is not valid JSON/.test(e.hint ?? ''),
    );
  });

  it('GRAINCHART_SPECS adds folders of labs after specs/, found by name like the kit’s own', async () => {
    const d = mkdtempSync(join(tmpdir(), 'gc-specs-'));
    const saved = process.env.GRAINCHART_SPECS;
    try {
      writeFileSync(join(d, 'mine.json'), JSON.stringify({ name: 'mine', vms: [tinyVm({ name: 'm1' })] }));
      writeFileSync(join(d, 'demo.json'), JSON.stringify({ name: 'demo', vms: [tinyVm({ name: 'imposter' })] }));
      process.env.GRAINCHART_SPECS = `/nonexistent-gc:${d}`;
      assert.ok(listLabs().includes('mine') && listLabs().includes('nixos-test'));
      assert.equal((await loadLab('mine')).vms[0]!.name, 'm1');
      assert.equal((await loadVm('m1')).lab.name, 'mine');
      assert.equal((await loadLab('demo')).vms[0]!.name, 'l1', 'the kit’s specs/ comes first');
    } finally {
      if (saved === undefined) delete process.env.GRAINCHART_SPECS;
      else process.env.GRAINCHART_SPECS = saved;
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('a VM not found is told with the nearest names and every VM under its lab', async () => {
    const d = mkdtempSync(join(tmpdir(), 'gc-specs-'));
    try {
      writeFileSync(join(d, 'one.json'), JSON.stringify({ name: 'one', vms: [tinyVm({ name: 'web1' })] }));
      writeFileSync(join(d, 'two.json'), JSON.stringify({ name: 'two', vms: [tinyVm({ name: 'db1' })] }));
      await assert.rejects(
        loadVm('web2', { specsDir: d }),
        (e: unknown) => e instanceof UsageError && e.message === 'no VM named "web2"; did you mean web1?' && e.hint === 'VMs by lab — one: web1; two: db1',
      );
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('a lab in specs/ is named after its file, and two files may not declare one lab', async () => {
    writeFileSync(join(dir, 'alpha.json'), JSON.stringify({ name: 'beta', vms: [tinyVm()] }));
    await assert.rejects(
      loadLab('alpha', { specsDir: dir }),
      (e: unknown) => e instanceof SpecError && e.problems[0]!.path === 'name' && /named after its file \(alpha\)/.test(e.message),
    );
    writeFileSync(join(dir, 'twin.json'), JSON.stringify({ name: 'twin', vms: [tinyVm()] }));
    writeFileSync(join(dir, 'twin.ts'), `export default ${JSON.stringify({ name: 'twin', vms: [tinyVm()] })};\n`);
    await assert.rejects(
      loadLab('twin', { specsDir: dir }),
      (e: unknown) => e instanceof SpecFileError && /twin\.ts and .*twin\.json: both declare lab "twin"/.test(e.message),
    );
  });
});

describe('class 6: long names', () => {
  it('63-character lab and VM names under a deep state folder get a QMP and agent socket that fits', () => {
    const root = `/tmp/${'d'.repeat(40)}`;
    const p = vmPaths(root, 'l'.repeat(63), 'v'.repeat(63));
    assert.ok(Buffer.byteLength(p.qmp) <= MAX_SOCKET_PATH, p.qmp);
    assert.ok(p.pid.startsWith(p.dir), 'only the socket moves');
    // Each long path keeps its own short socket.
    assert.notEqual(vmPaths(root, 'l'.repeat(63), 'w'.repeat(63)).qmp, p.qmp);
    // A path that fits stays where it was.
    assert.equal(socketPath('/s/lab/v/qmp.sock'), '/s/lab/v/qmp.sock');
    const saved = process.env.GRAINCHART_HOME;
    process.env.GRAINCHART_HOME = `${root}/${'e'.repeat(40)}`;
    try {
      assert.ok(Buffer.byteLength(agentPaths('l'.repeat(63)).sock) <= MAX_SOCKET_PATH);
    } finally {
      if (saved === undefined) delete process.env.GRAINCHART_HOME;
      else process.env.GRAINCHART_HOME = saved;
    }
  });
});

describe('class 7: environment and time', () => {
  it('an empty GRAINCHART_HOME is unset, not the current folder', () => {
    assert.equal(stateRoot({ GRAINCHART_HOME: '' }), stateRoot({}));
    assert.notEqual(stateRoot({ GRAINCHART_HOME: '' }), process.cwd());
  });

  it('--at without an offset is wall time in --tz; with one it is that instant', () => {
    assert.equal(parseInstant('2025-11-02T15:15', 'America/Los_Angeles').toISOString(), '2025-11-02T23:15:00.000Z');
    assert.equal(parseInstant('2025-07-01T12:00', 'Asia/Kolkata').toISOString(), '2025-07-01T06:30:00.000Z');
    assert.equal(parseInstant('2025-07-01', 'Europe/Berlin').toISOString(), '2025-06-30T22:00:00.000Z');
    assert.equal(parseInstant('2025-11-02T15:15-05:00', 'Asia/Kolkata').toISOString(), '2025-11-02T20:15:00.000Z');
    assert.throws(() => parseInstant('2025-02-29T10:00', 'UTC'), /--at/);
  });

  it('year 0 is year 0 (1 BC), not the era year 1', () => {
    assert.equal(localTime(new Date('0000-06-01T12:00Z'), 'UTC').year, 0);
    assert.equal(localTime(new Date('-000001-06-01T12:00Z'), 'UTC').year, -1);
  });

  it('local mean time keeps its sign and seconds', () => {
    assert.equal(zoneWord('GMT-7:52:58'), 'utcm075258');
    assert.equal(zoneWord('GMT+5:53:28'), 'utcp055328');
    assert.equal(zoneWord('GMT+5:30'), 'utcp0530');
    assert.equal(localTime(new Date('1800-06-01T12:00Z'), 'America/Los_Angeles').zone, 'utcm075258');
  });
});
