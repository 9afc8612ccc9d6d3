// tasks/serve/: the lab in a browser, and its figures for Prometheus.
//
// An HTTP server on 127.0.0.1 only: the page (page.ts), its live feed (/events, server-sent
// events: one reading per interval pushed to every open browser), /metrics in Prometheus'
// text format, and /api/frame as JSON for pipelines.  Every request needs the token printed
// with the URL (auth.ts).  Read-only: nothing here changes a VM.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { admit } from './auth.ts';
import { pageFor } from './page.ts';
import { prometheusText } from './metrics.ts';
import type { LabReader } from './reader.ts';
import type { LabFrame } from './frame.ts';
import type { LabShape } from './shape.ts';

export interface Served {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

export interface ServeOptions {
  reader: LabReader;
  /** The slow half of the page (shape.ts), read again when a VM changes state and every half minute. */
  shape: (frame: LabFrame | undefined) => Promise<LabShape>;
  port: number;
  token: string;
  log: (line: string) => void;
}

const SHAPE_EVERY_MS = 30_000;
const PING_MS = 15_000;

const COMMON = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...COMMON, 'content-type': type, ...extra });
  res.end(body);
}

/** Keeps the slow half fresh while someone follows the page: again on a change of state, else every half minute. */
class ShapeKeeper {
  latest?: LabShape;
  private states = '';
  private busy = false;
  constructor(
    private readonly read: (f: LabFrame | undefined) => Promise<LabShape>,
    private readonly publish: (s: LabShape) => void,
    private readonly log: (line: string) => void,
  ) {}

  consider(frame: LabFrame): void {
    const states = frame.vms.map((v) => `${v.name}=${v.state}`).join(',');
    const old = !this.latest || Date.now() - Date.parse(this.latest.at) > SHAPE_EVERY_MS;
    if (this.busy || (states === this.states && !old)) return;
    this.busy = true;
    this.states = states;
    this.read(frame)
      .then((s) => {
        this.latest = s;
        this.publish(s);
      })
      .catch((err: Error) => this.log(`serve: the lab's shape could not be read: ${err.message.split('\n')[0]}`))
      .finally(() => {
        this.busy = false;
      });
  }
}

export async function startServer(o: ServeOptions): Promise<Served> {
  const streams = new Set<ServerResponse>();
  const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  const broadcast = (chunk: string) => {
    for (const s of streams) s.write(chunk);
  };
  const shapes = new ShapeKeeper(o.shape, (s) => broadcast(event('shape', s)), o.log);
  // One listener for every stream: a reading is serialized once, whatever the number of browsers.
  let unfollow: (() => void) | undefined;
  const followIfWatched = () => {
    if (streams.size && !unfollow)
      unfollow = o.reader.follow((f) => {
        broadcast(event('frame', f));
        shapes.consider(f);
      });
    if (!streams.size && unfollow) {
      unfollow();
      unfollow = undefined;
    }
  };

  const events = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { ...COMMON, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    res.write(event('hello', { lab: o.reader.lab.name, intervalMs: o.reader.intervalMs, keep: Math.ceil(300_000 / o.reader.intervalMs) }));
    res.write(event('history', o.reader.history));
    if (shapes.latest) res.write(event('shape', shapes.latest));
    else shapes.consider(o.reader.latest ?? { lab: o.reader.lab.name, time: new Date().toISOString(), seq: 0, readMs: 0, vms: [] });
    if (o.reader.latest) res.write(event('frame', o.reader.latest));
    streams.add(res);
    followIfWatched();
    const ping = setInterval(() => res.write(': ping\n\n'), PING_MS);
    req.on('close', () => {
      clearInterval(ping);
      streams.delete(res);
      followIfWatched();
    });
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'read-only: GET only\n', { allow: 'GET, HEAD' });
    const verdict = admit(req, o.token);
    if (verdict === 403) return send(res, 403, 'text/plain; charset=utf-8', 'forbidden: this server answers 127.0.0.1 and localhost only\n');
    if (verdict === 401)
      return send(
        res,
        401,
        'text/plain; charset=utf-8',
        'unauthorized: open the URL serve printed (it carries ?token=…), or send Authorization: Bearer TOKEN\n',
        {
          'www-authenticate': 'Bearer realm="grainchart"',
        },
      );
    switch (path) {
      case '/': {
        const page = pageFor(o.reader.lab.name);
        return send(res, 200, 'text/html; charset=utf-8', page.html, { 'content-security-policy': page.csp });
      }
      case '/events':
        return events(req, res);
      case '/metrics':
        return void o.reader.fresh().then(
          (f) =>
            send(
              res,
              200,
              'text/plain; version=0.0.4; charset=utf-8',
              prometheusText(f, { readings: o.reader.readings, readSeconds: f.readMs / 1000, clients: streams.size }),
            ),
          (err: Error) => send(res, 503, 'text/plain; charset=utf-8', `no reading: ${err.message}\n`),
        );
      case '/api/frame':
        return void o.reader.fresh().then((f) => send(res, 200, 'application/json', `${JSON.stringify({ frame: f, shape: shapes.latest })}\n`));
      default:
        return send(res, 404, 'text/plain; charset=utf-8', 'not found: /, /events, /metrics and /api/frame are served\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  o.reader.start();
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/?token=${o.token}`,
    port,
    token: o.token,
    close: async () => {
      for (const s of streams) s.end();
      streams.clear();
      unfollow?.();
      await o.reader.stop();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
    },
  };
}
