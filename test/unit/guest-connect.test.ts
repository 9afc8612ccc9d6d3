// Guest.connect settles when the far end goes away before the SSH handshake: a slirp forward
// into a guest whose sshd is not listening yet accepts the TCP connection and then drops it.
// ssh2 then clears its own ready timeout and reports nothing; a poll loop waited forever.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { Guest } from '../../tasks/ssh/guest.ts';

describe('Guest.connect', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gc-guest-'));
  const keyPath = join(dir, 'id_ed25519');
  let server: Server;
  let port: number;
  const target = () => ({ name: 'g', host: '127.0.0.1', port, user: 'root', privateKeyPath: keyPath, hostKey: 'ssh-ed25519 AAAA' });
  before(async () => {
    writeFileSync(keyPath, ssh2.utils.generateKeyPairSync('ed25519').private, { mode: 0o600 });
    // Says its banner and hangs up, as a guest's sshd does when the guest reboots mid-handshake:
    // after a banner, ssh2 reports no error for a lost connection, only 'end' and 'close'.
    server = createServer((s) => s.end('SSH-2.0-dropbear_2022.83\r\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects, well before its timeout, when a given stream ends after the banner', { timeout: 15_000 }, async () => {
    const t0 = Date.now();
    const sock = connect(port, '127.0.0.1');
    await assert.rejects(Guest.connect(target(), 30_000, sock), /closed before the SSH handshake/);
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
  });

  it('rejects when its own TCP connection is dropped before the handshake', { timeout: 15_000 }, async () => {
    await assert.rejects(Guest.connect(target(), 30_000), /closed before the SSH handshake/);
  });

  it('rejects on its own timeout when the far end never speaks', { timeout: 15_000 }, async () => {
    const held: Socket[] = [];
    const silent = createServer((s) => held.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const t0 = Date.now();
    try {
      await assert.rejects(Guest.connect({ ...target(), port: (silent.address() as AddressInfo).port }, 500), /Timed out|timed out/);
      assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms`);
    } finally {
      for (const s of held) s.destroy();
      silent.close();
    }
  });
});
