// A resume or `up --from` that fails halfway loses nothing and leaves nothing running, for
// real: in a lab of two top-level VMs, the second one's SSH port is taken by someone else
// while the lab is suspended (or stopped), so its start is refused after the first one's QEMU
// already runs.  That QEMU must end, every record must read as before (suspended, or
// stopped), the saved state must still be on the disks, and the same command must work once
// the port is free again.  Both ways a lab is saved: devices beside a RAM file (the first
// VM's guest has run on from it, so it is saved again), and snapshots in the qcow2.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { freePort, qemusUnder } from '../helpers/vm.ts';
import { specLab } from '../helpers/spec-lab.ts';

for (const way of ['RAM file', 'snapshot'] as const)
  describe(`a resume that fails halfway (saved by ${way})`, () => {
    let portB: number;
    const lab = specLab(
      'gc-rollback-',
      async () => {
        portB = await freePort();
        const vm = (name: string, sshPort: number) => ({ name, cpus: 1, memory: 512, boot: { image: 'tiny' }, vga: 'none', network: { sshPort } });
        return { name: 'rbtest', vms: [vm('a', await freePort()), vm('b', portB)] };
      },
      { GRAINCHART_RAM_FILES: way === 'snapshot' ? '0' : '1' },
    );
    const { k, ok, json, states } = lab;
    // Someone else's listener on b's forward, as another program on this host would hold it.
    const holdPortB = async (): Promise<Server> => {
      const server = createServer();
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(portB, '127.0.0.1', resolve));
      return server;
    };
    const release = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));
    before(() => ok(k('up')));

    it('resume: the first VM’s QEMU ends, the lab stays suspended with its save, and resuming again works', async () => {
      ok(k('exec', 'a', '--', 'echo kept > /root/mark; sync'));
      const saved = json(k('suspend', '--json')).steps.map((s: { vm: string; snapshot: string }) => [s.vm, s.snapshot]);
      assert.deepEqual(
        saved.map(([vm]: string[]) => vm),
        ['a', 'b'],
      );
      const server = await holdPortB();
      let r: ReturnType<typeof k>;
      try {
        r = k('resume');
      } finally {
        await release(server);
      }
      assert.notEqual(r.status, 0, 'resume succeeded although b’s port was taken');
      assert.match(r.stderr, new RegExp(`${portB}`), 'the refusal names the taken port');
      assert.deepEqual(qemusUnder(lab.home), [], 'a’s QEMU was left running');
      assert.deepEqual(states(), [
        ['a', 'suspended'],
        ['b', 'suspended'],
      ]);
      for (const [vm, snapshot] of saved)
        assert.ok(
          way === 'RAM file'
            ? existsSync(join(lab.home, 'rbtest', vm, 'devices.state')) && existsSync(join(lab.home, 'rbtest', vm, 'ram'))
            : json(k('snapshots', vm, '--json')).some((s: { name: string }) => s.name === snapshot),
          `${vm}'s save is gone`,
        );
      ok(k('resume'));
      assert.deepEqual(states(), [
        ['a', 'running'],
        ['b', 'running'],
      ]);
      assert.equal(ok(k('exec', 'a', '--', 'cat /root/mark')).stdout.trim(), 'kept');
    });

    it('up --from: the first VM’s QEMU ends, the lab stays stopped with its snapshot, and starting again works', async () => {
      const name = json(k('snapshot', 'rbtest', '--json'))[0].name as string;
      ok(k('down'));
      const server = await holdPortB();
      let r: ReturnType<typeof k>;
      try {
        r = k('up', '--from', name);
      } finally {
        await release(server);
      }
      assert.notEqual(r.status, 0, 'up --from succeeded although b’s port was taken');
      assert.deepEqual(qemusUnder(lab.home), [], 'a’s QEMU was left running');
      assert.deepEqual(states(), [
        ['a', 'stopped'],
        ['b', 'stopped'],
      ]);
      ok(k('up', '--from', name));
      assert.equal(ok(k('exec', 'b', '--', 'hostname')).stdout.trim(), 'b');
    });
  });
