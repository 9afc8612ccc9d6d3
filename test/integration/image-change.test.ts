// A VM whose spec now names another image than its root disk was made from (the README's
// "add a child inside it": the plain image, then the one that runs children): the boot is
// refused, naming both, before QEMU starts, and `up --fresh` makes the disk anew from the
// spec's image, for real.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { specLab } from '../helpers/spec-lab.ts';
import { freePort, qemusUnder } from '../helpers/vm.ts';

describe('a VM whose spec changed its image', () => {
  let port = 0;
  const vm = (image: string) => ({ name: 'c1', cpus: 1, memory: '1G', boot: { image }, vga: 'none', network: { sshPort: port } });
  const lab = specLab('gc-imgchange-', async () => {
    port = await freePort();
    return { name: 'imgchange', vms: [vm('tiny')] };
  });
  const { k, ok, states } = lab;
  before(() => {
    ok(k('up'));
    ok(k('exec', 'c1', '--', 'echo written-on-tiny > /root/mark; sync'));
    ok(k('down'));
    writeFileSync(lab.spec, JSON.stringify({ name: 'imgchange', vms: [vm('tiny-nest')] }));
  });

  it('is refused before QEMU starts, naming the image its disk has and the one its spec names, with how to go on', () => {
    const r = k('up');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /c1's root disk was made from tiny; its spec now boots tiny-nest/);
    assert.match(r.stderr, /hint: make it anew from the spec's image, losing what the guest wrote on it: npx tsx tasks.ts up imgchange --fresh/);
    assert.deepEqual(qemusUnder(lab.home), []);
    assert.deepEqual(states(), [['c1', 'stopped']]);
  });

  it('up --fresh boots it on a new disk from the spec’s image', () => {
    ok(k('up', '--fresh'));
    assert.match(ok(k('exec', 'c1', '--', 'command -v qemu-system-x86_64')).stdout, /qemu-system-x86_64/);
    assert.equal(k('exec', 'c1', '--', 'cat /root/mark').status, 1, 'the old disk’s file is still there');
  });
});
