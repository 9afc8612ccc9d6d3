// A cloud-init NoCloud seed: user-data (the spec's user with the lab's key, the VM's SSH
// host key so the kit can pin it before the first boot) and meta-data (instance id and
// hostname), on an ISO 9660 volume labelled `cidata`, which cloud-init finds on any disk.
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../util/exec.ts';

export interface SeedInput {
  lab: string;
  vm: string;
  user: string;
  /** "ssh-ed25519 AAAA… comment": may log in as `user`. */
  authorizedKey: string;
  /** The guest's SSH host key, made on the host so it is known before the guest boots. */
  hostKey: { privateOpenSsh: string; publicOpenSsh: string };
}

/** YAML's double-quoted scalar is JSON's string syntax: JSON.stringify quotes anything safely. */
const q = (s: string) => JSON.stringify(s);
const block = (s: string, indent: string) =>
  s
    .trimEnd()
    .split('\n')
    .map((l) => `${indent}${l}`)
    .join('\n');

export function userData(s: SeedInput): string {
  const root = s.user === 'root';
  return [
    '#cloud-config',
    `# grainchart: lab ${s.lab}, VM ${s.vm}`,
    `hostname: ${q(s.vm)}`,
    // sudo and others look the hostname up; without this they complain on every call.
    'manage_etc_hosts: true',
    'ssh_pwauth: false',
    `disable_root: ${root ? 'false' : 'true'}`,
    ...(root
      ? ['ssh_authorized_keys:', `  - ${q(s.authorizedKey)}`]
      : [
          'users:',
          `  - name: ${q(s.user)}`,
          '    shell: /bin/bash',
          "    sudo: 'ALL=(ALL) NOPASSWD:ALL'",
          '    lock_passwd: true',
          '    ssh_authorized_keys:',
          `      - ${q(s.authorizedKey)}`,
        ]),
    // The host key is ours, so the kit pins it before the first boot instead of trusting whatever answers.
    'ssh_deletekeys: true',
    "ssh_genkeytypes: ['ed25519']",
    'ssh_keys:',
    '  ed25519_private: |',
    block(s.hostKey.privateOpenSsh, '    '),
    `  ed25519_public: ${q(s.hostKey.publicOpenSsh)}`,
    '',
  ].join('\n');
}

/** A new instance id whenever the user-data changes, so cloud-init applies it again. */
export function metaData(s: SeedInput, user: string): string {
  const id = createHash('sha256').update(user).digest('hex').slice(0, 12);
  return `instance-id: grainchart-${s.lab}-${s.vm}-${id}\nlocal-hostname: ${s.vm}\n`;
}

/** Writes the seed ISO with genisoimage (Debian's genisoimage package). */
export async function makeSeedIso(out: string, s: SeedInput): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gc-seed-'));
  try {
    const ud = userData(s);
    writeFileSync(join(dir, 'user-data'), ud, { mode: 0o600 });
    writeFileSync(join(dir, 'meta-data'), metaData(s, ud));
    await run(['genisoimage', '-quiet', '-output', `${out}.tmp`, '-volid', 'cidata', '-joliet', '-rock', join(dir, 'user-data'), join(dir, 'meta-data')], {
      hint: 'genisoimage comes with Debian’s genisoimage package: bash scripts/setup-host.sh --full',
    });
    // It carries the guest's private host key: readable by us only.
    chmodSync(`${out}.tmp`, 0o600);
    renameSync(`${out}.tmp`, out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
