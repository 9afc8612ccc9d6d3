// A small QMP client over the VM's unix socket (no maintained npm client exists):
// greeting → qmp_capabilities → commands with ids.  QEMU closes the socket after `quit`,
// so a close with commands pending rejects them instead of hanging.
import { retry } from '../util/retry.ts';
import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import { TaskError, QmpError } from '../util/errors.ts';

export interface QmpEvent {
  event: string;
  data?: unknown;
  timestamp?: unknown;
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; command: string; timer: NodeJS.Timeout };

export class QmpClient {
  private buffer = '';
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private closed = false;
  readonly events: QmpEvent[] = [];

  private constructor(private readonly socket: Duplex) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.failAll(new Error('QMP socket closed')));
    socket.on('error', (err) => this.failAll(err));
  }

  /**
   * QEMU's monitor serves one client at a time and its socket's backlog is short, so a
   * connect while another client (a `status`, a chart) holds it may fail with EAGAIN:
   * that is tried again until the timeout.
   */
  static async connect(path: string, timeoutMs = 3000): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    return retry(() => QmpClient.over(createConnection(path), path, Math.max(100, deadline - Date.now())), {
      what: `QEMU's monitor at ${path} to take a client`,
      timeoutMs,
      intervalMs: 50,
      // Only a full backlog passes; no socket, or a refusal, is an answer now.
      fatal: (err) => (err as NodeJS.ErrnoException).code !== 'EAGAIN',
      hint: 'another client (a status, a chart) may be holding the monitor',
    });
  }

  /** QMP over any stream: a unix socket here, or an SSH tunnel to a nested VM's QMP port. */
  static over(socket: Duplex, path: string, timeoutMs = 3000): Promise<QmpClient> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TaskError(`QMP at ${path} did not greet within ${timeoutMs} ms`));
      }, timeoutMs);
      let greeted = false;
      const client = new QmpClient(socket);
      // The first line is the greeting; capabilities negotiation follows.
      client.onGreeting = () => {
        greeted = true;
        client
          .execute('qmp_capabilities', undefined, timeoutMs)
          .then(() => {
            clearTimeout(timer);
            resolve(client);
          })
          .catch((e) => {
            clearTimeout(timer);
            reject(e);
          });
      };
      socket.once('error', (err) => {
        if (!greeted) {
          clearTimeout(timer);
          reject(err);
        }
      });
    });
  }

  private onGreeting?: () => void;

  private onData(chunk: string) {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      if ('QMP' in msg) {
        const g = this.onGreeting;
        this.onGreeting = undefined;
        g?.();
      } else if ('event' in msg) this.events.push(msg as unknown as QmpEvent);
      else if (typeof msg.id === 'number') {
        const p = this.pending.get(msg.id);
        if (!p) continue;
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        if ('error' in msg) {
          const e = msg.error as { class?: string; desc?: string };
          p.reject(new QmpError(p.command, e.class ?? 'Error', e.desc ?? 'unknown error'));
        } else p.resolve(msg.return);
      }
    }
  }

  private failAll(err: Error) {
    this.closed = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(`QMP ${p.command}: ${err.message}`));
      this.pending.delete(id);
    }
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`QMP ${command}: socket closed`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`QMP ${command}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, command, timer });
      this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  close() {
    this.closed = true;
    this.socket.destroy();
  }
}

/** Connect, run one command, close. */
export async function qmpOnce<T = unknown>(path: string, command: string, args?: Record<string, unknown>, timeoutMs = 3000): Promise<T> {
  const c = await QmpClient.connect(path, timeoutMs);
  try {
    return await c.execute<T>(command, args, timeoutMs);
  } finally {
    c.close();
  }
}

export interface QmpStatus {
  status: string; // running, paused, internal-error, guest-panicked, shutdown, …
  running: boolean;
}
