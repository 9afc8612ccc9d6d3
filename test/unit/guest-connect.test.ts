// Guest.connect settles when the far end goes away before the SSH handshake: a slirp forward
// into a guest whose sshd is not listening yet accepts the TCP connection and then drops it.
// ssh2 then clears its own ready timeout and reports nothing; a poll loop waited forever.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { Duplex } from 'node:stream';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { Guest } from '../../tasks/ssh/guest.ts';
import { droppedConnection } from '../../tasks/ssh/dropped.ts';

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

describe('droppedConnection', () => {
  it('tells a connection that ended under the kit from an answer of the guest', () => {
    for (const m of [
      'Not connected',
      'No response from server',
      'g: the connection to 127.0.0.1:2224 closed before the SSH handshake finished',
      'g: timed out after 5000 ms waiting for the SSH handshake',
      'read ECONNRESET',
      'g: the SSH connection ended while `uname -a` ran',
    ])
      assert.equal(droppedConnection(new Error(m)), m, m);
    for (const m of ['g: `uname -a` exited 1', 'connect ECONNREFUSED 127.0.0.1:2224', 'no banner yet', 'g: sshd at 127.0.0.1:2224 refused the key'])
      assert.equal(droppedConnection(new Error(m)), undefined, m);
  });
});

describe('Guest over a stream through a parent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gc-tunnel-'));
  const keyPath = join(dir, 'id_ed25519');
  const host = ssh2.utils.generateKeyPairSync('ed25519');
  let server: Server;
  let port: number;
  before(async () => {
    writeFileSync(keyPath, ssh2.utils.generateKeyPairSync('ed25519').private, { mode: 0o600 });
    // Takes any key, starts the command, and then its TCP connection is cut without a word:
    // a guest's sshd whose process for this connection was killed mid-exec.
    const sshd = new ssh2.Server({ hostKeys: [host.private] }, () => undefined);
    server = createServer((sock: Socket) => {
      sshd.injectSocket(sock);
    });
    sshd.on('connection', (conn) => {
      conn.on('authentication', (ctx) => ctx.accept());
      conn.on('ready', () =>
        conn.on('session', (accept) =>
          accept().on('exec', (run) => {
            run();
            setTimeout(() => (conn as unknown as { _sock: Socket })._sock.destroy(), 50);
          }),
        ),
      );
      conn.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails a command whose connection ended under it, where a half-closed tunnel would leave it waiting', { timeout: 15_000 }, async () => {
    // As an SSH channel is: its end is not its close (a direct-tcpip channel closes only when both sides say so).
    const tcp = connect(port, '127.0.0.1');
    const tunnel = new Duplex({
      allowHalfOpen: true,
      read: () => undefined,
      write: (chunk, _enc, done) => tcp.write(chunk, done),
      destroy: (err, done) => {
        tcp.destroy();
        done(err);
      },
    });
    tcp.on('data', (c) => tunnel.push(c)).on('end', () => tunnel.push(null));
    const g = await Guest.connect({ name: 'c', host: '127.0.0.1', port, user: 'root', privateKeyPath: keyPath, hostKey: host.public.trim() }, 5000, tunnel);
    await assert.rejects(g.exec('uname -a'), /c: the SSH connection ended while `uname -a` ran/);
    assert.equal(g.closed, true);
    assert.equal(droppedConnection(await g.exec('true').catch((e) => e)), 'Not connected');
  });
});
