// The cloud-init NoCloud seed: what user-data says, and an ISO that cloud-init will find —
// volume id `cidata`, user-data and meta-data at its root — read back with isoinfo.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSeedIso, metaData, userData, type SeedInput } from '../../tasks/cloud/seed.ts';

const input = (user: string): SeedInput => ({
  lab: 'lab1',
  vm: 'deb1',
  user,
  authorizedKey: 'ssh-ed25519 AAAAC3lab grainchart-lab1',
  hostKey: {
    privateOpenSsh: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n-----END OPENSSH PRIVATE KEY-----\n',
    publicOpenSsh: 'ssh-ed25519 AAAAC3host deb1-host',
  },
});

describe('cloud-init seed', () => {
  it('user-data: the spec’s user with the lab key and sudo, no passwords, our host key', () => {
    const ud = userData(input('deployer'));
    assert.match(ud, /^#cloud-config\n/);
    assert.match(ud, /users:\n {2}- name: "deployer"\n/);
    assert.match(ud, /ssh_authorized_keys:\n {6}- "ssh-ed25519 AAAAC3lab grainchart-lab1"/);
    assert.match(ud, /ssh_pwauth: false/);
    assert.match(ud, /disable_root: true/);
    assert.match(ud, /ed25519_private: \|\n {4}-----BEGIN OPENSSH PRIVATE KEY-----\n {4}b3BlbnNzaA\n {4}-----END OPENSSH PRIVATE KEY-----\n/);
    assert.match(ud, /ed25519_public: "ssh-ed25519 AAAAC3host deb1-host"/);
    const root = userData(input('root'));
    assert.match(root, /disable_root: false\nssh_authorized_keys:\n {2}- "ssh-ed25519 AAAAC3lab/);
    assert.doesNotMatch(root, /^users:/m);
  });

  it('meta-data: a new instance id when the user-data changes, so cloud-init runs again', () => {
    const a = metaData(input('deployer'), userData(input('deployer')));
    const b = metaData(input('deployer'), userData(input('other')));
    assert.match(a, /^instance-id: grainchart-lab1-deb1-[0-9a-f]{12}\nlocal-hostname: deb1\n$/);
    assert.notEqual(a, b);
  });

  it('writes an ISO 9660 volume "cidata" with user-data and meta-data, readable only by us', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gc-seed-test-'));
    const iso = join(dir, 'seed.iso');
    await makeSeedIso(iso, input('deployer'));
    assert.equal(statSync(iso).mode & 0o777, 0o600);
    const header = execFileSync('isoinfo', ['-d', '-i', iso], { encoding: 'utf8' });
    assert.match(header, /^Volume id: cidata$/m);
    const listing = execFileSync('isoinfo', ['-R', '-f', '-i', iso], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
    assert.deepEqual(listing, ['/meta-data', '/user-data']);
    const ud = execFileSync('isoinfo', ['-R', '-i', iso, '-x', '/user-data'], { encoding: 'utf8' });
    assert.equal(ud, userData(input('deployer')));
    assert.match(execFileSync('isoinfo', ['-R', '-i', iso, '-x', '/meta-data'], { encoding: 'utf8' }), /^instance-id: grainchart-lab1-deb1-/);
    rmSync(dir, { recursive: true, force: true });
  });
});
