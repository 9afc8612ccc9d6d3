import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sshConfig } from '../../tasks/lab/ssh-config.ts';
import { resolveLab } from '../../tasks/spec/resolve.ts';
import { readLabInput } from '../../tasks/spec/load.ts';
import { BIG_HOST } from '../helpers/probes.ts';

describe('sshConfig', () => {
  it('reaches a nested VM through its parent with ProxyJump, host keys pinned by alias', async () => {
    const home = mkdtempSync(join(tmpdir(), 'gc-sshcfg-'));
    const saved = process.env.GRAINCHART_HOME;
    process.env.GRAINCHART_HOME = home;
    try {
      const lab = resolveLab((await readLabInput('demo')).input, BIG_HOST, 'demo');
      const text = sshConfig(lab);
      const block = (host: string) => text.split('\n\n').find((b) => b.startsWith(`Host ${host}\n`))!;
      assert.equal(
        block('l1'),
        [
          'Host l1',
          '  HostName 127.0.0.1',
          '  Port 10022',
          '  User root',
          `  IdentityFile ${home}/demo/ssh/id_ed25519`,
          '  IdentitiesOnly yes',
          `  UserKnownHostsFile ${home}/demo/ssh/known_hosts`,
          '  HostKeyAlias l1.demo.grainchart',
          '  StrictHostKeyChecking yes',
        ].join('\n'),
      );
      assert.match(block('l2'), /\n {2}Port 2224\n/);
      assert.match(block('l2'), /\n {2}HostKeyAlias l2\.demo\.grainchart\n/);
      assert.match(block('l2'), /\n {2}ProxyJump l1\n?$/);
    } finally {
      if (saved === undefined) delete process.env.GRAINCHART_HOME;
      else process.env.GRAINCHART_HOME = saved;
      rmSync(home, { recursive: true, force: true });
    }
  });
});
