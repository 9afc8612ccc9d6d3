// tasks/ssh/: reaching a guest over SSH (ssh2, no system ssh) — sessions, sshd banners, the
// lab's keys and pinned host keys; the same verbs at every layer.
//
// A guest reached over SSH with ssh2 (no system `ssh` needed).  The same verbs at every
// layer, as the NixOS test driver's Machine has them: exec, succeed, fail,
// waitUntilSucceeds, put/get over SFTP.  The host key must equal the pinned one.
import { readFileSync } from 'node:fs';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { TaskError, HostKeyMismatch, KeyRefused } from '../util/errors.ts';
import { retry } from '../util/retry.ts';
import { sshDebug } from './debug-log.ts';

export interface GuestTarget {
  name: string;
  host: string;
  port: number;
  user: string;
  privateKeyPath: string;
  /** "ssh-ed25519 AAAA…": the only host key accepted. */
  hostKey: string;
}

export interface ExecResult {
  code: number;
  signal?: string;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  stdin?: string | NodeJS.ReadableStream;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  pty?: boolean;
  /** Give up (closing the channel) when the command has not ended by then: a guest that stopped answering. */
  timeoutMs?: number;
}

export class Guest {
  /** The guest this one is reached through. */
  parent?: Guest;
  /** Closing this guest closes its parent too (not when the parent is shared, as a pool's are). */
  private ownsParent = true;
  /**
   * The end of the last command or SFTP session asked for: the next one starts after it.
   * Dropbear 2022.83 (Debian 12's) closes a channel whose exec request it has not read yet
   * when another channel's process exits at that moment; the exec is then refused, or the
   * whole connection ends on "Failed assertion (common-channel.c:705)" (mkj/dropbear#321,
   * fixed in 2024.86).  One channel at a time per connection leaves no other process to exit.
   * Port forwards (nested guests' connections) carry no process and are not queued.
   */
  private lastChannel: Promise<unknown> = Promise.resolve();
  /** The connection has ended (the guest, the network or close()): every call on it fails with ssh2's "Not connected". */
  closed = false;

  private constructor(
    readonly target: GuestTarget,
    readonly client: Client,
  ) {
    client.once('close', () => (this.closed = true));
  }

  /** A stream to host:port as seen from inside this guest (SSH direct-tcpip). */
  forwardOut(port: number, host = '127.0.0.1'): Promise<ClientChannel> {
    return new Promise((resolve, reject) => this.client.forwardOut('127.0.0.1', 0, host, port, (err, ch) => (err ? reject(err) : resolve(ch))));
  }

  /** A stream to a unix socket on the machine (OpenSSH's streamlocal; dropbear has none). */
  forwardOutSocket(path: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => this.client.openssh_forwardOutStreamLocal(path, (err, ch) => (err ? reject(err) : resolve(ch))));
  }

  /**
   * A guest reached through this one: its sshd at `target.port` inside this guest.  The
   * child closes this guest with it unless `shared` (the caller keeps this one open).
   */
  async connectChild(target: GuestTarget, timeoutMs = 10_000, sock?: import('node:stream').Duplex, shared = false): Promise<Guest> {
    const child = await Guest.connect(target, timeoutMs, sock ?? (await this.forwardOut(target.port)));
    child.parent = this;
    child.ownsParent = !shared;
    return child;
  }

  /** `sock`: an already open connection to the guest's sshd (its banner may be unread). */
  static connect(target: GuestTarget, timeoutMs = 10_000, sock?: import('node:stream').Duplex): Promise<Guest> {
    const expected = Buffer.from(target.hostKey.split(' ')[1] ?? '', 'base64');
    let mismatch = false;
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: readFileSync(target.privateKeyPath),
      readyTimeout: timeoutMs,
      // The raw host key blob must equal the pinned one; anything else is refused.
      hostVerifier: (key: Buffer) => {
        mismatch = !key.equals(expected);
        return !mismatch;
      },
      // A guest that died without closing its TCP connection (a kernel panic; slirp keeps the
      // host's end open) would leave a session waiting forever: ask every 15 s and give up after
      // 4 unanswered, a minute, which even a TCG guest loaded by its child's boot answers within.
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      ...(sock ? { sock: sock as import('node:stream').Readable } : {}),
      ...sshDebug(target),
    };
    return new Promise((resolve, reject) => {
      const client = new Client();
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(backstop);
        client.end();
        reject(err);
      };
      // ssh2 clears its readyTimeout when the stream ends or closes before the handshake and
      // then reports neither ready nor error: a forward into a guest whose sshd is not up yet
      // (slirp accepts, then drops it) would leave this promise waiting forever.
      const keyRefused = () =>
        new HostKeyMismatch(`${target.name}: the host key of ${target.host}:${target.port} does not match the pinned one`, {
          hint: 'another machine answers on this port, or the guest image changed; check known_hosts in the lab folder',
        });
      const early = () =>
        fail(mismatch ? keyRefused() : new Error(`${target.name}: the connection to ${target.host}:${target.port} closed before the SSH handshake finished`));
      client.once('end', early);
      client.once('close', early);
      // A stream we gave ssh2 (a tunnel through a parent) that ends: ssh2 stops its keepalive
      // and waits for a 'close' that a half-closed SSH channel never sends, so a command
      // running on it would wait forever.  Closing the stream makes ssh2 close the client and
      // fail what was pending (seen: a child's sshd that dropped the connection mid-exec).
      if (sock) client.on('end', () => sock.destroy());
      const backstop = setTimeout(() => fail(new Error(`${target.name}: timed out after ${timeoutMs} ms waiting for the SSH handshake`)), timeoutMs + 1000);
      client.once('ready', () => {
        if (settled) return;
        settled = true;
        clearTimeout(backstop);
        client.off('end', early);
        client.off('close', early);
        resolve(new Guest(target, client));
      });
      // Always listening: ssh2 may report more than one error (a lost connection after a
      // failed handshake, a reset after ready), and an unheard 'error' would end the process.
      // After ready, errors surface through the failing exec/sftp call instead.
      client.on('error', (err: Error & { level?: string }) =>
        fail(
          mismatch
            ? keyRefused()
            : err.level === 'client-authentication'
              ? new KeyRefused(`${target.name}: sshd at ${target.host}:${target.port} refused the key ${target.privateKeyPath} for ${target.user}`, {
                  hint: `the guest does not hold the lab's public key in ~${target.user}/.ssh/authorized_keys (a kit image takes it from gc.authkey on its kernel command line; a cloud image from its seed)`,
                  cause: err,
                })
              : err,
        ),
      );
      client.connect(config);
    });
  }

  /**
   * Runs a command.  A refused exec request (ssh2's "Unable to exec": the server turned the
   * channel down, so the command never started — see lastChannel for dropbear's reason) is
   * asked again, up to three times, in case a dropbear refuses one for a reason of its own.
   */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    // A stream of stdin cannot be read twice: only a refusal before the command started is asked again.
    const stdinUsed = opts.stdin !== undefined && typeof opts.stdin !== 'string';
    return retry(() => this.execOnce(command, opts), {
      what: `${this.target.name} to run a command`,
      timeoutMs: Number.POSITIVE_INFINITY,
      tries: 3,
      pauseMs: (n) => 100 * n,
      fatal: (err) => stdinUsed || !/Unable to exec/.test((err as Error).message),
    });
  }

  /** Runs `f` once every channel asked for before has closed. */
  private oneChannelAtATime<T>(f: () => Promise<T>): Promise<T> {
    const mine = this.lastChannel.then(f, f);
    this.lastChannel = mine.catch(() => undefined);
    return mine;
  }

  private execOnce(command: string, opts: ExecOptions): Promise<ExecResult> {
    return this.oneChannelAtATime(() => this.execNow(command, opts));
  }

  private execNow(command: string, opts: ExecOptions): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, opts.pty ? { pty: true } : {}, (err, stream: ClientChannel) => {
        if (err) return reject(err);
        const out: Buffer[] = [];
        const errs: Buffer[] = [];
        let code = -1;
        let signal: string | undefined;
        stream.on('data', (c: Buffer) => (opts.onStdout ? opts.onStdout(c) : out.push(c)));
        stream.stderr.on('data', (c: Buffer) => (opts.onStderr ? opts.onStderr(c) : errs.push(c)));
        stream.on('exit', (c: number | null, sig?: string) => {
          code = c ?? -1;
          signal = sig;
        });
        const timer = opts.timeoutMs
          ? setTimeout(() => {
              stream.close();
              reject(
                new TaskError(`${this.target.name}: \`${command}\` did not finish within ${opts.timeoutMs! / 1000} s`, {
                  hint: `is ${this.target.name} still answering? npx tsx tasks.ts status`,
                }),
              );
            }, opts.timeoutMs)
          : undefined;
        stream.on('close', () => {
          clearTimeout(timer);
          // No exit status and the connection gone (ssh2 says 'close' on the client first): the
          // sshd or the tunnel ended under the command, which is no answer of the command's.
          if (code === -1 && signal === undefined && this.closed)
            return reject(new Error(`${this.target.name}: the SSH connection ended while \`${command.split('\n')[0]!.slice(0, 60)}\` ran`));
          resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errs).toString('utf8') });
        });
        if (typeof opts.stdin === 'string') stream.end(opts.stdin);
        else if (opts.stdin) opts.stdin.pipe(stream);
        else stream.end();
      });
    });
  }

  /** Runs the command; its stdout, or a TaskError with the output when it fails. */
  async succeed(command: string, timeoutMs?: number): Promise<string> {
    const r = await this.exec(command, { timeoutMs });
    if (r.code !== 0) throw new TaskError(`${this.target.name}: \`${command}\` exited ${r.code}`, { exitCode: r.code, stdout: r.stdout, stderr: r.stderr });
    return r.stdout;
  }

  /** Runs a command that must fail; its output, or a TaskError when it succeeds. */
  async fail(command: string): Promise<ExecResult> {
    const r = await this.exec(command);
    if (r.code === 0) throw new TaskError(`${this.target.name}: \`${command}\` succeeded but was expected to fail`, { stdout: r.stdout });
    return r;
  }

  waitUntilSucceeds(command: string, timeoutMs = 30_000): Promise<string> {
    return retry(async () => this.succeed(command), { what: `${this.target.name}: \`${command}\` to succeed`, timeoutMs, intervalMs: 250 });
  }

  private sftp() {
    return new Promise<import('ssh2').SFTPWrapper>((resolve, reject) => this.client.sftp((err, s) => (err ? reject(err) : resolve(s))));
  }

  put(local: string, remote: string): Promise<void> {
    return this.oneChannelAtATime(() => this.putNow(local, remote));
  }

  get(remote: string, local: string): Promise<void> {
    return this.oneChannelAtATime(() => this.getNow(remote, local));
  }

  private async putNow(local: string, remote: string): Promise<void> {
    const s = await this.sftp();
    try {
      await new Promise<void>((resolve, reject) => s.fastPut(local, remote, (err) => (err ? reject(err) : resolve())));
    } finally {
      await endSftp(s);
    }
  }

  private async getNow(remote: string, local: string): Promise<void> {
    const s = await this.sftp();
    try {
      await new Promise<void>((resolve, reject) => s.fastGet(remote, local, (err) => (err ? reject(err) : resolve())));
    } finally {
      await endSftp(s);
    }
  }

  close(): void {
    this.client.end();
    if (this.ownsParent) this.parent?.close();
  }
}

/** Ends an SFTP session and waits (up to 2 s) until its channel is closed, so the next request finds it gone. */
function endSftp(s: import('ssh2').SFTPWrapper): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2000);
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    s.end();
  });
}
