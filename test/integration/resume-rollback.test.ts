// A resume or `up --from` that fails halfway loses nothing and leaves nothing running, for
// real: in a lab of two top-level VMs, the second one's SSH port is taken by someone else
// while the lab is suspended (or stopped), so its start is refused after the first one's QEMU
// already runs.  That QEMU must end, every record must read as before (suspended, or
// stopped), the saved state must still be on the disks, and the same command must work once
// the port is free again.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kit } from '../helpers/cli.ts';
import { freePort, qemusUnder } from '../helpers/vm.ts';

describe('a resume that fails halfway', () => {
  let home: string;
  let spec: string;
  let portB: number;
  const env = () => ({ GRAINCHART_HOME: home });
  const k = (...args: string[]) => kit(['--spec', spec, ...args], { env: env() });
  const ok = (r: ReturnType<typeof kit>) => {
    assert.equal(r.status, 0, r.stderr);
    return r;
  };
  const json = (r: ReturnType<typeof kit>) => JSON.parse(ok(r).stdout);
  const states = () => json(k('status', '--json')).map((r: { name: string; state: string }) => [r.name, r.state]);
  // Someone else's listener on b's forward, as another program on this host would hold it.
  const holdPortB = async (): Promise<Server> => {
    const server = createServer();
    await new Promise<void>((ok, fail) => server.once('error', fail).listen(portB, '127.0.0.1', ok));
    return server;
  };
  const release = (server: Server) => new Promise<void>((ok) => server.close(() => ok()));

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'gc-rollback-'));
    spec = join(home, 'rollback.json');
    portB = await freePort();
    const vm = (name: string, sshPort: number) => ({ name, cpus: 1, memory: 512, boot: { image: 'tiny' }, vga: 'none', network: { sshPort } });
    writeFileSync(spec, JSON.stringify({ name: 'rbtest', vms: [vm('a', await freePort()), vm('b', portB)] }));
    ok(k('up'));
  });
  after(() => {
    kit(['--spec', spec, 'down', '--force', '--yes'], { env: env() });
    for (const pid of qemusUnder(home)) process.kill(pid, 'SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  it('resume: the first VM’s QEMU ends, the lab stays suspended with its save, and resuming again works', async () => {
    ok(k('exec', 'a', '--', 'echo kept > /root/mark; sync'));
    const saved = json(k('suspend', '--json')).steps.map((s: { vm: string; snapshot: string }) => [s.vm, s.snapshot]);
    assert.deepEqual(saved.map(([vm]: string[]) => vm), ['a', 'b']);
    const server = await holdPortB();
    let r;
    try {
      r = k('resume');
    } finally {
      await release(server);
    }
    assert.notEqual(r.status, 0, 'resume succeeded although b’s port was taken');
    assert.match(r.stderr, new RegExp(`${portB}`), 'the refusal names the taken port');
    assert.deepEqual(qemusUnder(home), [], 'a’s QEMU was left running');
    assert.deepEqual(states(), [
      ['a', 'suspended'],
      ['b', 'suspended'],
    ]);
    for (const [vm, snapshot] of saved) assert.ok(json(k('snapshots', vm, '--json')).some((s: { name: string }) => s.name === snapshot), `${vm}'s save is gone`);
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
    let r;
    try {
      r = k('up', '--from', name);
    } finally {
      await release(server);
    }
    assert.notEqual(r.status, 0, 'up --from succeeded although b’s port was taken');
    assert.deepEqual(qemusUnder(home), [], 'a’s QEMU was left running');
    assert.deepEqual(states(), [
      ['a', 'stopped'],
      ['b', 'stopped'],
    ]);
    ok(k('up', '--from', name));
    assert.equal(ok(k('exec', 'b', '--', 'hostname')).stdout.trim(), 'b');
  });
});
