// A server's libvirtd over SSH (qemu+ssh://[user@]server[:port]/system): the libvirt launcher
// over an access of one SSH session to the server (OpenSSH), through which its QEMU is read
// as a parent guest's is (one exec per verb: /proc, files, qemu-img), its forwards and QMP
// socket are reached (direct-tcpip, streamlocal), and a VM's own small files are copied
// (SFTP); while the domain itself is defined, started and destroyed, and images and root
// overlays become the pool's volumes (vol-upload, vol-create), by virsh over libvirt's own
// qemu+ssh transport.  Both check the server's host key against `knownHosts`: virsh's ssh is
// told so by a wrapper the kit writes (libvirt's ssh transport passes no such option), the
// kit's session compares the key blob.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { TaskError, UsageError } from '../../util/errors.ts';
import { Guest } from '../../ssh/guest.ts';
import { shellQuote } from '../../util/shell-quote.ts';
import { stateRoot } from '../../util/paths.ts';
import type { LibvirtSpec } from '../../spec/schema.ts';
import { onClose } from '../../util/closers.ts';
import type { Machine } from '../machine.ts';
import { homeOf, SshMachine } from '../over-ssh.ts';
import { planned } from '../planned.ts';
import { LibvirtConnection } from './connection.ts';
import { LibvirtMachine, libvirtRef, libvirtStash } from './machine.ts';

export interface SshServer {
  user: string;
  host: string;
  port: number;
}

/** user, host and port of a qemu+ssh URI (the schema checked its shape); undefined for a local one. */
export function sshServerOf(uri: string, defaultUser = process.env.USER ?? 'root'): SshServer | undefined {
  const m = /^qemu\+ssh:\/\/(?:([^@/]+)@)?([^:/]+)(?::(\d+))?\/system$/.exec(uri);
  return m ? { user: m[1] ?? defaultUser, host: m[2]!, port: Number(m[3] ?? 22) } : undefined;
}

/** The key `known_hosts` pins for host:port ("type base64"), as OpenSSH writes it: `host` for port 22, else `[host]:port`. */
export function knownHostKey(knownHosts: string, host: string, port: number): string | undefined {
  const name = port === 22 ? host : `[${host}]:${port}`;
  for (const line of knownHosts.split('\n')) {
    const [hosts, type, key] = line.trim().split(/\s+/);
    if (!hosts || hosts.startsWith('#') || !type || !key) continue;
    if (hosts.split(',').includes(name)) return `${type} ${key}`;
  }
  return undefined;
}

/** ssh for libvirt's qemu+ssh transport, pinned to `knownHosts` and never asking: the wrapper's text. */
export function sshWrapper(knownHosts: string): string {
  return [
    '#!/bin/sh',
    `exec ssh -o UserKnownHostsFile=${shellQuote(knownHosts)} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes "$@"`,
    '',
  ].join('\n');
}

/** libvirt's URI for virsh: the spec's, with the key, the wrapper and no terminal (values escaped as URI query values). */
export function virshUri(uri: string, key: string, wrapper: string): string {
  const q = (s: string) => s.replace(/[^A-Za-z0-9/._~-]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  return `${uri}?keyfile=${q(key)}&command=${q(wrapper)}&no_tty=1`;
}

/** A server as `explain` sees it: where the VM's files would be; nothing is asked (no session is opened). */
export function plannedServer(spec: LibvirtSpec): Machine {
  const server = sshServerOf(spec.uri)!;
  return planned({
    slow: false,
    local: false,
    readsHostFiles: false,
    stashPath: libvirtStash,
    where: `on libvirt ${spec.uri}`,
    installHint: '',
    home: homeOf(server.user),
    ref: libvirtRef,
  });
}

const home = () => process.env.HOME ?? homedir();
const expand = (f: string) => (f.startsWith('~/') ? join(home(), f.slice(2)) : f);

const machines = new Map<string, Promise<LibvirtMachine>>();

/** One machine (one SSH session) per server and key, for the whole command; closed when it ends. */
export function serverMachine(spec: LibvirtSpec): Promise<LibvirtMachine> {
  const server = sshServerOf(spec.uri);
  if (!server) throw new UsageError(`${spec.uri} is not a qemu+ssh:// connection`);
  const key = expand(spec.key ?? '~/.ssh/id_ed25519');
  const knownHosts = expand(spec.knownHosts ?? '~/.ssh/known_hosts');
  const id = `${spec.uri} ${key} ${knownHosts}`;
  let m = machines.get(id);
  if (!m) {
    m = connect(spec.uri, server, key, knownHosts).catch((err) => {
      machines.delete(id);
      throw err;
    });
    machines.set(id, m);
  }
  return m;
}

async function connect(uri: string, server: SshServer, key: string, knownHosts: string): Promise<LibvirtMachine> {
  const at = `${server.host}:${server.port}`;
  if (!existsSync(key)) throw new UsageError(`${uri}: no SSH key ${key}`, 'set libvirt.key to the private key the server accepts');
  const hostKey = existsSync(knownHosts) ? knownHostKey(readFileSync(knownHosts, 'utf8'), server.host, server.port) : undefined;
  if (!hostKey)
    throw new UsageError(
      `${uri}: ${knownHosts} pins no host key for ${server.port === 22 ? server.host : `[${server.host}]:${server.port}`}`,
      `check the server's key fingerprint, then add it: ssh-keyscan -p ${server.port} ${server.host} >> ${knownHosts} (the kit never connects to an unknown host key)`,
    );
  const wrapper = join(stateRoot(), 'libvirt-ssh', `${createHash('sha256').update(knownHosts).digest('hex').slice(0, 16)}.sh`);
  mkdirSync(join(stateRoot(), 'libvirt-ssh'), { recursive: true, mode: 0o700 });
  writeFileSync(wrapper, sshWrapper(knownHosts), { mode: 0o700 });
  chmodSync(wrapper, 0o700);
  const session = await Guest.connect(
    { name: `libvirt server ${at}`, host: server.host, port: server.port, user: server.user, privateKeyPath: key, hostKey },
    15_000,
  ).catch((err) => {
    throw new TaskError(`cannot reach the libvirt server ${at} over SSH: ${(err as Error).message}`, {
      hint: `check ${uri}, libvirt.key and libvirt.knownHosts`,
      cause: err,
    });
  });
  onClose(() => session.close());
  const where = `on libvirt ${uri}`;
  const installHint = `install libvirt on ${server.host}: apt-get install libvirt-daemon-system qemu-system-x86 qemu-utils (Debian/Ubuntu)`;
  const access = new SshMachine(session, { where, slow: false, installHint, ref: libvirtRef });
  const conn = new LibvirtConnection(uri, virshUri(uri, key, wrapper), `start libvirtd on ${server.host} (bash scripts/setup-host.sh --libvirt there)`);
  return new LibvirtMachine(access, conn, installHint, ` on ${server.host}`);
}
