// Bad input, continued (issue 29): paths that are the wrong kind of thing, and refused runs
// that must leave nothing behind.  One describe per class; each test fails when its rule is
// taken out.  Every refusal is exit 2, names the flag or field and the path, prints no stack,
// and leaves the state folder (and any output folder) as it was: here, not made at all.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../tasks/cli/main.ts';
import { tasks } from '../../tasks.ts';
import { loadLab } from '../../tasks/spec/load.ts';
import { SpecFileError } from '../../tasks/util/errors.ts';
import { TASKS } from '../helpers/cli.ts';
import { inputFileProblem, outputFileProblem, outputFolderProblem } from '../../tasks/util/file-checks.ts';

let dir = '';
let home = '';
const saved = process.env.GRAINCHART_HOME;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gc-paths-'));
  home = join(dir, 'state');
  process.env.GRAINCHART_HOME = home;
  mkdirSync(join(dir, 'folder'));
  writeFileSync(join(dir, 'file'), 'x');
});
after(() => {
  if (saved === undefined) delete process.env.GRAINCHART_HOME;
  else process.env.GRAINCHART_HOME = saved;
  rmSync(dir, { recursive: true, force: true });
});

async function refused(args: string[], message: RegExp, made: string[] = []): Promise<void> {
  let err = '';
  const code = await runCli(tasks, args, { stdout: () => undefined, stderr: (s) => void (err += s) });
  assert.equal(code, 2, `${args.join(' ')}: ${err}`);
  assert.match(err, message, args.join(' '));
  assert.doesNotMatch(err, /^\s+at /m, 'a stack trace');
  assert.ok(!existsSync(home), `${args.join(' ')} left ${home}: ${existsSync(home) ? readdirSync(home).join(', ') : ''}`);
  for (const m of made) assert.ok(!existsSync(m), `${args.join(' ')} made ${m}`);
}

/** A lab spec file with one tiny VM, `vm` joining its fields. */
function spec(name: string, vm: Record<string, unknown>): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ name, vms: [{ name: `${name}-v`, memory: 256, vga: 'none', network: { sshPort: 2398 }, ...vm }] }));
  return file;
}

describe('class 8: a folder (or nothing) where a file is read', () => {
  it('says which, for each kind of path', () => {
    assert.equal(inputFileProblem(join(dir, 'file')), undefined);
    assert.equal(inputFileProblem(join(dir, 'folder')), 'is a folder, not a file');
    assert.equal(inputFileProblem(join(dir, 'none')), 'not found');
    assert.equal(inputFileProblem(join(dir, 'file', 'x')), 'not found');
  });

  it('a disk’s backing that is a folder: disk-create and up refuse before anything is made', async () => {
    const file = spec('bk', { boot: { kernel: join(dir, 'file') }, disk: { file: 'd.qcow2', backing: join(dir, 'folder') } });
    const field = /vms\[0\]\.disk\.backing: .*\/folder is a folder, not a file/;
    await refused(['--spec', file, 'disk-create', 'bk-v'], field);
    await refused(['--spec', file, 'up'], field);
  });

  it('a kernel, an initramfs, an ISO, a cloud image that is a folder or missing: up refuses, naming the field', async () => {
    await refused(['--spec', spec('k', { boot: { kernel: join(dir, 'folder') } }), 'up'], /vms\[0\]\.boot\.kernel: .* is a folder, not a file/);
    await refused(
      ['--spec', spec('i', { boot: { kernel: join(dir, 'file'), initrd: join(dir, 'none') } }), 'up'],
      /vms\[0\]\.boot\.initrd: .*\/none not found/,
    );
    await refused(['--spec', spec('c', { boot: { cloudImage: join(dir, 'folder') } }), 'up'], /vms\[0\]\.boot\.cloudImage: .* is a folder, not a file/);
    await refused(
      ['--spec', spec('iso', { boot: { iso: join(dir, 'folder') }, disk: { file: 'd.qcow2', size: '1G' } }), 'up'],
      /vms\[0\]\.boot\.iso: .* is a folder/,
    );
  });

  it('install --iso that is a folder', async () => {
    const file = spec('inst', { boot: { kernel: join(dir, 'file') }, disk: { file: 'd.qcow2', size: '1G' } });
    await refused(['--spec', file, 'install', 'inst-v', '--iso', join(dir, 'folder')], /--iso .*\/folder: is a folder, not a file/);
  });

  it('a spec its user cannot read says so (run as nobody where the tests run as root, who reads anything)', () => {
    const open = mkdtempSync(join(tmpdir(), 'gc-nobody-'));
    try {
      chmodSync(open, 0o755);
      const file = join(open, 'secret.json');
      writeFileSync(file, '{"name":"lab","vms":[{"name":"v","boot":{"image":"tiny"}}]}');
      chmodSync(file, 0);
      const kit = [process.execPath, '--import', 'tsx', TASKS, 'spec', '--spec', file];
      const argv = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...kit] : kit;
      const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...process.env, HOME: open, GRAINCHART_HOME: join(open, 'state') } });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`${file}: cannot be read: permission denied`));
      assert.ok(!existsSync(join(open, 'state')));
    } finally {
      rmSync(open, { recursive: true, force: true });
    }
  });

  it('a .ts spec whose field is a getter that throws: the file and the field, exit 2', async () => {
    const file = join(dir, 'getter.ts');
    writeFileSync(
      file,
      `export default { name: 'lab', vms: [{ name: 'v', boot: { image: 'tiny' }, get memory() { throw new Error('no memory today'); } }] };\n`,
    );
    await assert.rejects(loadLab(undefined, { spec: file }), (e: unknown) => e instanceof SpecFileError && /vms\[0\]\.memory: no memory today/.test(e.message));
    await refused(['spec', '--spec', file], /getter\.ts: could not be read: vms\[0\]\.memory: no memory today/);
  });
});

describe('class 9: a file where a folder is written, a folder where a file is', () => {
  it('says which, for each kind of path', () => {
    assert.equal(outputFileProblem(join(dir, 'folder', 'new.xml')), undefined);
    assert.equal(outputFileProblem(join(dir, 'folder')), 'is a folder, not a file');
    assert.match(outputFileProblem(join(dir, 'file', 'x.xml')) ?? '', /\/file is a file, not a folder/);
    assert.match(outputFileProblem(join(dir, 'none', 'x.xml')) ?? '', /its folder .*\/none does not exist/);
    assert.equal(outputFolderProblem(join(dir, 'none', 'deeper')), undefined);
    assert.equal(outputFolderProblem(join(dir, 'file')), 'is a file, not a folder');
    assert.match(outputFolderProblem(join(dir, 'file', 'deeper')) ?? '', /\/file is a file, not a folder/);
  });

  it('doc --out: a file, a file on the way, a folder where the report goes — and a new folder is made only when written', async () => {
    await refused(['doc', 'demo', '--out', join(dir, 'file')], /--out .*\/file: is a file, not a folder/);
    await refused(['doc', 'demo', '--out', join(dir, 'file', 'reports')], /\/file is a file, not a folder/);
    mkdirSync(join(dir, 'reports', 'demo.html'), { recursive: true });
    await refused(['doc', 'demo', '--out', join(dir, 'reports')], /reports\/demo\.html is a folder, not a file/);
  });

  it('nix-config --out that is a file', async () => {
    await refused(['nix-config', 'nixos-test', '--out', join(dir, 'file')], /--out .*\/file\/nixos-test: .*\/file is a file, not a folder/);
  });

  it('smoke --junit and --html: a folder, a file on the way, no folder — before the lab’s lock is taken', async () => {
    await refused(['smoke', 'demo', '--junit', join(dir, 'folder')], /--junit .*\/folder: is a folder, not a file/);
    await refused(['smoke', 'demo', '--html', join(dir, 'file', 'r.html')], /--html .*: .*\/file is a file, not a folder/);
    await refused(['smoke', 'demo', '--junit', join(dir, 'none', 'r.xml')], /its folder .*\/none does not exist/, [join(dir, 'none')]);
  });
});
