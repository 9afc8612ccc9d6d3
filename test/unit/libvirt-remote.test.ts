// The pure parts of a qemu+ssh connection: the server a URI names, the host key a known_hosts
// file pins for it (as OpenSSH writes entries), the ssh wrapper virsh is given, and the URI
// virsh is given.  The real connection is in test/integration/libvirt-remote.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { knownHostKey, sshServerOf, sshWrapper, virshUri } from '../../tasks/machine/libvirt/server.ts';

describe('qemu+ssh connections', () => {
  it('reads user, host and port from the URI, with ssh’s defaults', () => {
    assert.deepEqual(sshServerOf('qemu+ssh://ops@big.example.org:2222/system'), { user: 'ops', host: 'big.example.org', port: 2222 });
    assert.deepEqual(sshServerOf('qemu+ssh://10.0.0.5/system', 'me'), { user: 'me', host: '10.0.0.5', port: 22 });
    assert.equal(sshServerOf('qemu:///system'), undefined);
  });

  it('finds the pinned key as OpenSSH writes it: host for port 22, [host]:port otherwise, several names per line', () => {
    const kh = [
      '# pinned by hand',
      'big.example.org,10.0.0.5 ssh-ed25519 AAAAbig',
      '[127.0.0.1]:2222 ssh-ed25519 AAAAloop',
      '|1|hashed= ssh-rsa AAAAhashed',
      '',
    ].join('\n');
    assert.equal(knownHostKey(kh, 'big.example.org', 22), 'ssh-ed25519 AAAAbig');
    assert.equal(knownHostKey(kh, '10.0.0.5', 22), 'ssh-ed25519 AAAAbig');
    assert.equal(knownHostKey(kh, '127.0.0.1', 2222), 'ssh-ed25519 AAAAloop');
    // Another port of a pinned host is another server as far as the pin goes.
    assert.equal(knownHostKey(kh, '127.0.0.1', 22), undefined);
    assert.equal(knownHostKey(kh, 'big.example.org', 2222), undefined);
  });

  it('gives virsh an ssh that checks the pinned file strictly and never asks, and a URI carrying it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gc-wrapper-'));
    try {
      const file = join(dir, "it's known");
      const wrapper = sshWrapper(file);
      assert.match(wrapper, /-o StrictHostKeyChecking=yes -o BatchMode=yes "\$@"$/m);
      assert.doesNotMatch(wrapper, /StrictHostKeyChecking=no/);
      // The file name reaches ssh as one word, quote and all: run the wrapper with a fake ssh that prints its argv.
      writeFileSync(join(dir, 'ssh'), '#!/bin/sh\nfor a in "$@"; do echo "[$a]"; done\n', { mode: 0o755 });
      writeFileSync(join(dir, 'w.sh'), wrapper, { mode: 0o755 });
      const out = spawnSync('sh', [join(dir, 'w.sh'), '-p', '22', 'host'], { encoding: 'utf8', env: { PATH: `${dir}:/usr/bin:/bin` } }).stdout;
      assert.match(out, new RegExp(`^\\[UserKnownHostsFile=${dir.replace(/[.]/g, '\\.')}/it's known\\]$`, 'm'));
      assert.match(out, /^\[-p\]\n\[22\]\n\[host\]$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(
      virshUri('qemu+ssh://root@127.0.0.1:2222/system', '/k/id ed25519', '/w/ssh&.sh'),
      'qemu+ssh://root@127.0.0.1:2222/system?keyfile=/k/id%20ed25519&command=/w/ssh%26.sh&no_tty=1',
    );
  });
});
