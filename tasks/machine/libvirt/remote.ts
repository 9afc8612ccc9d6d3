// A server's libvirtd over SSH (qemu+ssh://[user@]server[:port]/system) as a Machine: one
// SSH session to the server (OpenSSH), through which its QEMU is read as a parent guest's is
// (one exec per verb: /proc, files, qemu-img), its forwards and QMP socket are reached
// (direct-tcpip, streamlocal), and a VM's own small files are copied (SFTP); while the domain
// itself is defined, started and destroyed, and images and root overlays become the pool's
// volumes (vol-upload, vol-create), by virsh over libvirt's own qemu+ssh transport.  Both
// check the server's host key against `knownHosts`: virsh's ssh is told so by a wrapper the
// kit writes (libvirt's ssh transport passes no such option), the kit's session compares the
// key blob.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { TaskError, UsageError } from '../../util/errors.ts';
import { Guest, shellQuote } from '../../ssh/guest.ts';
import { filesIn, GuestMachine, guestHome } from '../guest.ts';
import type { Machine, MachineProbe, Overlay, QemuRef } from '../machine.ts';
import { QmpClient } from '../../qemu/qmp.ts';
import type { ArgSection } from '../../qemu/args.ts';
import { domainName } from './xml.ts';
import { domainLog, LibvirtConnection, poolDir, QEMU_HOME, rootVolume } from './connection.ts';
import { stateRoot } from '../../util/paths.ts';
import type { Forward, LabResolved, VmPlace } from '../../spec/resolve.ts';
import type { LibvirtSpec } from '../../spec/schema.ts';
import { onClose } from '../../util/closers.ts';

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

/** A VM's QEMU on a server: its folder in the server's pool, QEMU's stderr in libvirt's log there. */
function serverRef(lab: LabResolved, place: VmPlace): QemuRef {
  const domain = domainName(lab.name, place.vm.name);
  const paths = { ...filesIn(`${poolDir()}/vms/${lab.name}/${place.vm.name}`), stderr: domainLog(domain), rootDisk: `${poolDir()}/${rootVolume(domain)}` };
  return { name: place.vm.name, paths, libvirt: { lab: lab.name, domain } };
}

/** A server as `explain` sees it: where the VM's files would be; nothing is asked (no session is opened). */
export function plannedServer(spec: LibvirtSpec): Machine {
  const server = sshServerOf(spec.uri)!;
  const no = () => Promise.reject(new TaskError(`${spec.uri} is not asked: planning only`));
  const at = ` on libvirt ${spec.uri}`;
  return {
    kind: 'libvirt',
    slow: false,
    local: false,
    where: at.trim(),
    at,
    installHint: '',
    home: guestHome(server.user).home,
    ref: serverRef,
    probe: no,
    sample: no,
    signal: no,
    qmp: no,
    dial: no,
    tail: no,
    prepare: no,
    start: no,
    cleanRuntime: no,
    put: no,
    run: no,
  };
}

const home = () => process.env.HOME ?? homedir();
const expand = (f: string) => (f.startsWith('~/') ? join(home(), f.slice(2)) : f);

export class RemoteLibvirtMachine extends GuestMachine {
  override readonly kind = 'libvirt' as const;
  override readonly slow = false;
  override readonly where: string;
  override readonly at: string;
  override readonly installHint: string;

  constructor(
    session: Guest,
    readonly uri: string,
    readonly conn: LibvirtConnection,
  ) {
    super(session, uri);
    this.where = `on libvirt ${uri}`;
    this.at = ` on libvirt ${uri}`;
    this.installHint = `install libvirt on ${session.target.host}: apt-get install libvirt-daemon-system qemu-system-x86 qemu-utils (Debian/Ubuntu)`;
  }

  /** Not inside a VM of the lab: a server of its own. */
  override get inside(): string | undefined {
    return undefined;
  }

  override ref(lab: LabResolved, place: VmPlace): QemuRef {
    return serverRef(lab, place);
  }

  override async probe(forwards: Forward[] = []): Promise<MachineProbe> {
    await this.conn.connected();
    return this.conn.judged(await super.probe(forwards));
  }

  /** QMP through the session to the unix socket the domain's QEMU made (the kit's own, beside libvirt's). */
  override async qmp(ref: QemuRef, timeoutMs = 3000): Promise<QmpClient> {
    return QmpClient.over(await this.guest.forwardOutSocket(ref.paths.qmp), `${ref.paths.qmp} ${this.where}`, timeoutMs);
  }

  /** Overlays in the pool made as its volumes, the rest as in a parent; then the VM's folder given to libvirt's QEMU user (it makes the socket and pidfile there). */
  override async prepare(ref: QemuRef, overlays: Overlay[] = []): Promise<void> {
    await super.prepare(ref, await this.conn.makeOverlays(ref, overlays, async (f) => (await this.guest.exec(`[ -e ${shellQuote(f)} ]`)).code === 0));
    const d = shellQuote(ref.paths.dir);
    await this.run(['sh', '-c', `chown "$(stat -c %u:%g ${QEMU_HOME})" ${d} && chmod 700 ${d}`]);
  }

  /** A file for the pool goes in as its volume (vol-upload over libvirt's connection); the rest over SFTP. */
  override async put(local: string, remote: string, opts: { keep?: boolean } = {}): Promise<void> {
    const sizeThere = async () => Number((await this.guest.exec(`stat -c %s ${shellQuote(remote)}`)).stdout.trim()) || undefined;
    if (!(await this.conn.putVolume(local, remote, opts.keep, sizeThere))) await super.put(local, remote, opts);
  }

  override async start(ref: QemuRef, args: string[], plan?: ArgSection[]) {
    if (!plan) throw new Error('a libvirt machine starts a domain from its plan');
    const emulator = (await this.run(['sh', '-c', 'command -v qemu-system-x86_64'])).trim() || '/usr/bin/qemu-system-x86_64';
    await this.run(['mkdir', '-p', poolDir()]);
    const r = await this.conn.start(ref, args, plan, { emulator, logTail: () => this.tail(ref.paths.stderr, 10) });
    return { ...r, pid: r.code === 0 ? (await this.sample(ref)).pid : undefined };
  }

  /** Also waits for libvirt to have the domain off, once its QEMU is gone. */
  override async cleanRuntime(ref: QemuRef): Promise<void> {
    await super.cleanRuntime(ref);
    if (ref.libvirt) await this.conn.settled(ref.libvirt.domain);
  }

  override async signal(ref: QemuRef, pid: number, sig: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
    if (!ref.libvirt || !(await this.sample(ref, { pid })).alive) return false;
    await this.conn.destroy(ref.libvirt.domain, sig === 'SIGTERM');
    return true;
  }

  // libvirt's own word on a domain, its figures, its list of snapshots and its managed save.
  get managedSave() {
    return this.conn.managed;
  }
  domainState = (ref: QemuRef) => this.conn.domainState(ref);
  domainStats = (ref: QemuRef) => this.conn.domainStats(ref);
  noteSnapshot = (ref: QemuRef, name: string, change: { saved: boolean; live: boolean }) => this.conn.noteSnapshot(ref, name, change);

  forget(ref: QemuRef): Promise<string | undefined> {
    return this.conn.forget(ref, this, ` on ${this.guest.target.host}`);
  }
}

const machines = new Map<string, Promise<RemoteLibvirtMachine>>();

/** One machine (one SSH session) per server and key, for the whole command; closed when it ends. */
export function remoteLibvirtMachine(spec: LibvirtSpec): Promise<RemoteLibvirtMachine> {
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

async function connect(uri: string, server: SshServer, key: string, knownHosts: string): Promise<RemoteLibvirtMachine> {
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
  return new RemoteLibvirtMachine(
    session,
    uri,
    new LibvirtConnection(uri, virshUri(uri, key, wrapper), `start libvirtd on ${server.host} (bash scripts/setup-host.sh --libvirt there)`),
  );
}
