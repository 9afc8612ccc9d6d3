// A nested VM's QMP through its parent's shell: the exchange as sh runs it (a stand-in `nc` on
// PATH echoes what it was sent, one reply a line, as QEMU answers), and the statuses read back.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childQmpExchange, qmpStatuses } from '../../tasks/console/child-qmp.ts';

describe('a child’s QMP through its parent’s shell', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gc-childqmp-'));
    // Replies as QEMU's: a greeting, then per command a line; query-status says paused.
    writeFileSync(
      join(dir, 'nc'),
      '#!/bin/sh\necho "{\\"QMP\\": {}}"\nwhile IFS= read -r l; do case "$l" in *query-status*) echo "{\\"return\\": {\\"status\\": \\"paused\\"}} $2";; *) echo "{\\"return\\": {}, \\"sent\\": $l}";; esac; done\n',
    );
    chmodSync(join(dir, 'nc'), 0o755);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('sends capabilities and then each command as a JSON line to the child’s port, the replies on one line', () => {
    const r = spawnSync('sh', ['-c', childQmpExchange(14001, ['query-status', 'cont', 'query-status'])], {
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.trim();
    assert.equal(out.split('\n').length, 1, 'the replies are not on one line');
    assert.match(out, /^qmp=\{"QMP": \{\}\} \{"return": \{\}, "sent": \{"execute":"qmp_capabilities"\}\} \{"return": \{"status": "paused"\}\} 14001 /);
    assert.match(out, /"sent": \{"execute":"cont"\}/);
    assert.deepEqual(qmpStatuses(out), ['paused', 'paused']);
  });

  it('where the parent has no nc (the Debian images), talks over bash’s /dev/tcp until every command has its reply', async () => {
    // A stand-in QEMU monitor: a greeting, a reply per command, an event after cont; it never closes first.
    const server = createServer((c) => {
      c.write('{"QMP": {"version": {}}}\r\n');
      let buf = '';
      c.on('data', (d) => {
        buf += d.toString();
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.includes('query-status')) c.write('{"return": {"status": "running"}}\r\n');
          else c.write('{"return": {}}\r\n');
          if (line.includes('"cont"')) c.write('{"timestamp": {}, "event": "RESUME"}\r\n');
        }
      });
      c.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const noNc = (process.env.PATH ?? '')
        .split(':')
        .filter((d) => !existsSync(join(d, 'nc')))
        .join(':');
      const t0 = Date.now();
      const out = await new Promise<string>((resolve) => {
        const c = spawn('sh', ['-c', childQmpExchange(port, ['query-status', 'cont', 'query-status'])], { env: { ...process.env, PATH: noNc } });
        let o = '';
        c.stdout.on('data', (d) => (o += d));
        c.on('close', () => resolve(o));
      });
      assert.ok(Date.now() - t0 < 2500, 'it waited for the monitor to close instead of counting replies');
      assert.deepEqual(qmpStatuses(out), ['running', 'running']);
      assert.match(out, /"event": "RESUME"/);
    } finally {
      server.close();
    }
  });

  it('reads no status from no answer', () => {
    assert.deepEqual(qmpStatuses('qmp=\n'), []);
    assert.deepEqual(qmpStatuses('nothing\n'), []);
  });
});
