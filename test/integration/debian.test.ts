// A full distribution, built without downloads beyond Debian's own packages: `image debian`
// (mmdebstrap: systemd, OpenSSH, cloud-init), booted under TCG as a cloud image — a qcow2
// overlay and a NoCloud seed — until systemd and OpenSSH run and cloud-init is done; then
// commands over SSH with the lab key, and the image itself untouched by what the guest wrote.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kit } from '../helpers/cli.ts';
import { freePort, qemusUnder, tinyLab, type TestLab } from '../helpers/vm.ts';

function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

describe('a Debian cloud image', () => {
  let lab: TestLab;
  let base: string;
  let baseSum: string;
  const k = (...args: string[]) => kit(['--spec', lab.spec, ...args], { env: lab.env });
  const ok = (r: ReturnType<typeof kit>) => {
    assert.equal(r.status, 0, `${r.stderr}\n${r.stdout}`);
    return r;
  };

  before(async () => {
    const port = await freePort();
    lab = await tinyLab('debtest', []);
    // tinyLab makes the state folder and spec file; this lab has one VM of its own kind.
    writeFileSync(
      lab.spec,
      JSON.stringify({
        name: 'debtest',
        vms: [{ name: 'deb1', cpus: 2, memory: 1024, boot: { cloudImage: 'debian', size: '8G' }, network: { sshPort: port }, ssh: { user: 'deployer' } }],
      }),
    );
  });
  after(() => {
    k('stop', 'deb1', '--force');
    lab.cleanup();
  });

  it('builds from Debian packages with mmdebstrap (or comes from the cache)', async () => {
    const img = JSON.parse(ok(kit(['image', 'debian', '--json', '--quiet'], { env: lab.env })).stdout);
    assert.match(img.kernelVersion, /-cloud-amd64$/);
    base = img.rootDisk;
    baseSum = await sha256(base);
  });

  it('boots under the host’s accelerator until systemd, OpenSSH and cloud-init are done', () => {
    const r = JSON.parse(ok(k('boot', 'deb1', '--json', '--quiet')).stdout);
    assert.match(r.uname, /^Linux deb1 .*-cloud-amd64 .* x86_64/);
    const state = k('exec', 'deb1', '--', 'systemctl is-system-running');
    assert.match(state.stdout.trim(), /^(running|degraded)$/, state.stderr);
  });

  it('runs commands over SSH as the spec’s user with the lab key, sudo without a password', () => {
    assert.equal(ok(k('exec', 'deb1', '--', 'id -un')).stdout.trim(), 'deployer');
    assert.equal(ok(k('exec', 'deb1', '--', 'sudo -n cloud-init status')).stdout.trim(), 'status: done');
    // The overlay was grown to the spec's size and the root filesystem with it.
    const size = Number(ok(k('exec', 'deb1', '--', 'df -BM --output=size / | tail -1 | tr -dc 0-9')).stdout);
    assert.ok(size > 7000, `root is ${size} MiB`);
  });

  it('writes only to its overlay: the image’s checksum is unchanged after the guest writes', async () => {
    ok(k('exec', 'deb1', '--', 'dd if=/dev/urandom of=$HOME/blob bs=1M count=32 status=none && sync'));
    ok(k('stop', 'deb1', '--quiet'));
    assert.equal(await sha256(base), baseSum);
    const overlay = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', join(lab.home, 'debtest', 'deb1', 'root.qcow2')], { encoding: 'utf8' }));
    assert.equal(overlay['backing-filename'], base);
    assert.ok(overlay['actual-size'] > 32 * 2 ** 20, 'the written data is in the overlay');
    assert.deepEqual(qemusUnder(lab.home), []);
  });
});
