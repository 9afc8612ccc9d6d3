// A "remote" server for tests: OpenSSH's sshd on a loopback port, with a host key and an
// authorized key of the suite's own, its host key pinned in a known_hosts of the suite's (no
// StrictHostKeyChecking=no anywhere).  The server is this same host, so a libvirt URI
// qemu+ssh://root@127.0.0.1:PORT/system reaches this host's libvirtd, every path through SSH.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SshServer {
  port: number;
  dir: string;
  uri: string;
  /** The client's private key and the known_hosts that pins the server. */
  key: string;
  knownHosts: string;
  pid: number;
}

/** Where the server will live (`dir`, on `port`): what a spec names before it starts. */
export function plannedSshServer(dir: string, port: number): SshServer {
  return { port, dir, uri: `qemu+ssh://root@127.0.0.1:${port}/system`, key: join(dir, 'id_ed25519'), knownHosts: join(dir, 'known_hosts'), pid: 0 };
}

/** Starts the planned server; its pid is set once sshd has written it. */
export async function startSshServer(server: SshServer): Promise<void> {
  mkdirSync(server.dir, { recursive: true, mode: 0o700 });
  const keygen = (file: string) => assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(server.dir, file)]).status, 0);
  keygen('host_ed25519');
  keygen('id_ed25519');
  writeFileSync(join(server.dir, 'authorized_keys'), readFileSync(join(server.dir, 'id_ed25519.pub')));
  const hostPub = readFileSync(join(server.dir, 'host_ed25519.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  writeFileSync(server.knownHosts, `[127.0.0.1]:${server.port} ${hostPub}\n`);
  writeFileSync(
    join(server.dir, 'sshd_config'),
    [
      `Port ${server.port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(server.dir, 'host_ed25519')}`,
      `AuthorizedKeysFile ${join(server.dir, 'authorized_keys')}`,
      `PidFile ${join(server.dir, 'sshd.pid')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'AllowTcpForwarding yes',
      'AllowStreamLocalForwarding yes',
      'Subsystem sftp internal-sftp',
      'LogLevel INFO',
      '',
    ].join('\n'),
  );
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation folder
  const sshd = spawnSync('/usr/sbin/sshd', ['-f', join(server.dir, 'sshd_config'), '-E', join(server.dir, 'sshd.log')], { encoding: 'utf8' });
  assert.equal(sshd.status, 0, `sshd did not start: ${sshd.stderr} (scripts/setup-host.sh --libvirt installs openssh-server)`);
  // sshd's parent returns once it has forked; the daemon writes the pidfile a moment later
  // (once in CI it was not there yet).  Read now: a suite's lab folder may be removed first.
  const pidfile = join(server.dir, 'sshd.pid');
  for (const until = Date.now() + 10_000; !existsSync(pidfile) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
  server.pid = Number(readFileSync(pidfile, 'utf8'));
}

/** Ends only the sshd this server started: its pid, while that process still runs this server's config. */
export function stopSshServer(server: SshServer): void {
  const cmdline = (() => {
    try {
      return readFileSync(`/proc/${server.pid}/cmdline`, 'utf8');
    } catch {
      return ''; // it ended
    }
  })();
  if (server.pid && cmdline.includes(join(server.dir, 'sshd_config'))) process.kill(server.pid, 'SIGTERM');
}
