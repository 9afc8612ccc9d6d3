// disk-create / disk-info against the real qemu-img, in a temp folder.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kit } from '../helpers/cli.ts';

describe('disk-create and disk-info', () => {
  let dir: string;
  let spec: string;
  const env = () => ({ GRAINCHART_HOME: join(dir, 'state'), HOME: dir });
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gc-disk-'));
    spec = join(dir, 'lab.json');
    writeFileSync(
      spec,
      JSON.stringify({
        name: 'disks',
        vms: [
          { name: 'base', memory: 256, disk: { file: '~/base.qcow2', size: '64M' } },
          { name: 'over', memory: 256, disk: { file: 'over.qcow2', backing: '~/base.qcow2' } },
        ],
      }),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a real qcow2 of the spec’s size', () => {
    const r = kit(['disk-create', 'base', '--spec', spec, '--json'], { env: env() });
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.format, 'qcow2');
    assert.equal(info['virtual-size'], 64 * 2 ** 20);
    assert.equal(readFileSync(join(dir, 'base.qcow2')).subarray(0, 4).toString('latin1'), 'QFI\xfb');
  });

  it('refuses to overwrite it, leaving the file as it was', () => {
    const file = join(dir, 'base.qcow2');
    const before = statSync(file).mtimeMs;
    const r = kit(['disk-create', 'base', '--spec', spec], { env: env() });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /already exists; not overwriting it/);
    assert.match(r.stderr, /hint: pass --force/);
    assert.equal(statSync(file).mtimeMs, before);
  });

  it('replaces it with --force', () => {
    const r = kit(['disk-create', 'base', '--spec', spec, '--force', '--json'], { env: env() });
    assert.equal(r.status, 0, r.stderr);
  });

  it('makes an overlay on a backing file, in the VM’s state folder', () => {
    const r = kit(['disk-create', 'over', '--spec', spec, '--json'], { env: env() });
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.filename, join(dir, 'state/disks/over/over.qcow2'));
    assert.equal(info['backing-filename'], join(dir, 'base.qcow2'));
    assert.equal(info['virtual-size'], 64 * 2 ** 20);
    assert.equal(statSync(join(dir, 'state/disks/over')).mode & 0o777, 0o700);
  });

  it('disk-info reports the image, and says how to create a missing one', () => {
    const r = kit(['disk-info', 'base', '--spec', spec], { env: env() });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^format:\s+qcow2$/m);
    assert.match(r.stdout, /^virtual size: 64 MiB \(67108864 bytes\)$/m);
    rmSync(join(dir, 'state/disks/over/over.qcow2'));
    const missing = kit(['disk-info', 'over', '--spec', spec], { env: env() });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /hint: create it: npx tsx tasks.ts disk-create over/);
  });

  it('names the VM that has no disk, and an unknown VM', () => {
    const noDisk = join(dir, 'nodisk.json');
    writeFileSync(noDisk, JSON.stringify({ name: 'k', vms: [{ name: 'k1', memory: 128, boot: { kernel: '/boot/vmlinuz' } }] }));
    const r = kit(['disk-create', 'k1', '--spec', noDisk], { env: env() });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /VM k1 has no disk \(vms\[0\]\.disk is not set\)/);
    const u = kit(['disk-create', 'zz', '--spec', noDisk], { env: env() });
    assert.equal(u.status, 2);
    assert.match(u.stderr, /no VM named "zz"/);
    assert.match(u.stderr, /no VM named "zz" in lab k; did you mean k1\?\n {2}hint: VMs by lab — k: k1\n/);
  });
});
