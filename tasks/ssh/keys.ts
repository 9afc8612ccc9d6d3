// The lab's SSH identity and pinned guest host keys.  One ed25519 key pair per lab
// (private key 0600); known_hosts in OpenSSH format so plain `ssh` can use it too.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { stateRoot } from '../util/paths.ts';

export interface LabKeys {
  privateKeyPath: string;
  publicKey: string; // "ssh-ed25519 AAAA… comment"
  knownHostsPath: string;
}

export function labDir(lab: string, root = stateRoot()): string {
  return join(root, lab);
}

/**
 * A new ed25519 key pair in OpenSSH format.  ssh2's generator now and then (about 1 in 400
 * here) writes a public key of 31 bytes — a leading zero byte dropped — which ssh2 itself
 * then refuses to parse ("Malformed OpenSSH private key"); such a pair is made again.
 */
export function newEd25519Pair(comment: string): { private: string; public: string } {
  for (let i = 0; i < 20; i++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment });
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error) && !(ssh2.utils.parseKey(pair.public) instanceof Error)) return pair;
  }
  throw new Error('ssh2 made 20 unparseable ed25519 keys in a row');
}

/** The lab's key pair, made on first use. */
export function labKeys(lab: string, root = stateRoot()): LabKeys {
  const dir = join(labDir(lab, root), 'ssh');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(labDir(lab, root), 0o700);
  chmodSync(dir, 0o700);
  const privateKeyPath = join(dir, 'id_ed25519');
  if (!existsSync(privateKeyPath)) {
    const pair = newEd25519Pair(`grainchart-${lab}`);
    writeFileSync(privateKeyPath, pair.private, { mode: 0o600 });
    writeFileSync(`${privateKeyPath}.pub`, `${pair.public}\n`, { mode: 0o644 });
  }
  const publicKey = readFileSync(`${privateKeyPath}.pub`, 'utf8').trim();
  return { privateKeyPath, publicKey, knownHostsPath: join(dir, 'known_hosts') };
}

/**
 * The name a VM's host key is pinned under.  Not host:port: a nested VM's 127.0.0.1:2224 is
 * inside its parent and may equal a host port; OpenSSH reads it through HostKeyAlias.
 */
export const hostKeyAlias = (lab: string, vm: string) => `${vm}.${lab}.grainchart`;

/** Records (or replaces) the pinned key for a VM. */
export function pinHostKey(knownHostsPath: string, alias: string, keyLine: string): void {
  const lines = existsSync(knownHostsPath)
    ? readFileSync(knownHostsPath, 'utf8')
        .split('\n')
        .filter((l) => l && l.split(' ')[0] !== alias)
    : [];
  lines.push(`${alias} ${keyLine.split(' ').slice(0, 2).join(' ')}`);
  writeFileSync(knownHostsPath, `${lines.join('\n')}\n`, { mode: 0o600 });
}

/** The pinned key ("ssh-ed25519 AAAA…") of a VM, if any. */
export function pinnedHostKey(knownHostsPath: string, alias: string): string | undefined {
  if (!existsSync(knownHostsPath)) return undefined;
  const line = readFileSync(knownHostsPath, 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[0] === alias);
  return line?.split(' ').slice(1, 3).join(' ');
}
