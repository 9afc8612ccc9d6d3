// The dashboard's server against a fake reading (no VM): who is let in (token, Host), what
// the page may load (its CSP), the live feed (hello, history, shape, frames), /metrics in
// Prometheus' format, one reading per interval however many browsers follow, and a clean end.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { History, vmView, type LabFrame } from '../../tasks/serve/frame.ts';
import { labelValue, prometheusText } from '../../tasks/serve/metrics.ts';
import { LabReader } from '../../tasks/serve/reader.ts';
import { startServer, type Served } from '../../tasks/serve/server.ts';
import type { LabShape } from '../../tasks/serve/shape.ts';
import type { VmStats } from '../../tasks/stats/figures.ts';
import { resolveLab } from '../../tasks/spec/resolve.ts';
import { BIG_HOST } from '../helpers/probes.ts';

const lab = resolveLab(
  {
    name: 'w',
    vms: [
      { name: 'l1', boot: { image: 'tiny-nest' }, vga: 'none', children: [{ name: 'l2', boot: { image: 'tiny' }, vga: 'none', network: { sshPort: 2224 } }] },
    ],
  },
  BIG_HOST,
  't',
);

/** A running VM's stats as the stats module gives them; `cpu` its guest's busy %. */
function stats(name: string, parent: string | undefined, cpu: number, rx = 1000): VmStats {
  return {
    lab: 'w',
    name,
    parent,
    depth: parent ? 2 : 1,
    state: 'running',
    accel: parent ? 'kvm' : 'tcg',
    cpus: 1,
    memoryMiB: 512,
    forwards: [],
    host: { ok: true, value: { cpuPercent: 12.5, cpuSeconds: 3.25, rssMiB: 300 } },
    qmp: { ok: true, value: { status: 'running', readBytes: 10, writtenBytes: 20 } },
    disk: { ok: true, value: { virtualBytes: 2 ** 30, allocatedBytes: 2 ** 20 } },
    guest: {
      ok: true,
      value: {
        cpuBusyPercent: cpu,
        memTotalMiB: 480,
        memAvailableMiB: 400,
        rootTotalMiB: 100,
        rootUsedMiB: 50,
        load1: 0.1,
        uptimeS: 9,
        netRxBytes: rx,
        netTxBytes: 2 * rx,
      },
    },
    network: { ok: false, reason: 'the forward is closed' },
  };
}

const shape: LabShape = {
  at: new Date().toISOString(),
  host: { title: 'this machine', cpus: 2, memoryMiB: 1024, accel: 'TCG' },
  alloc: '<svg/>',
  topology: '<svg/>',
  snapshots: [],
  unlisted: [],
};

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });
}

/** The first `n` events of the live feed, as [name, data]. */
function feed(port: number, token: string, n: number): Promise<Array<[string, any]>> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/events?token=${token}` }, (res) => {
      let text = '';
      const got: Array<[string, any]> = [];
      res.on('data', (c) => {
        text += c;
        let i = text.indexOf('\n\n');
        while (i >= 0) {
          const block = text.slice(0, i);
          text = text.slice(i + 2);
          const name = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (name && data) got.push([name, JSON.parse(data)]);
          if (got.length >= n) {
            req.destroy();
            return resolve(got);
          }
          i = text.indexOf('\n\n');
        }
      });
    });
    req.on('error', (e) => (e.message.includes('aborted') ? undefined : reject(e)));
    req.end();
  });
}

describe('serve', () => {
  let reads = 0;
  let cpu = 5;
  const reader = new LabReader(
    lab,
    async () => {
      reads++;
      return [stats('l1', undefined, cpu, 1000 * reads), stats('l2', 'l1', cpu * 2, 500 * reads)];
    },
    1000,
  );
  let served: Served;
  after(() => served?.close());

  it('starts on a free port of 127.0.0.1, its URL carrying a long random token', async () => {
    served = await startServer({ reader, shape: async () => shape, port: 0, token: `${'x'.repeat(8)}T0KEN`, log: () => {} });
    assert.match(served.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=xxxxxxxxT0KEN$/);
  });

  it('refuses a request without the token (401) or for another host name (403), and every write (405)', async () => {
    assert.equal((await get(served.port, '/')).status, 401);
    assert.equal((await get(served.port, '/metrics?token=wrong')).status, 401);
    assert.equal((await get(served.port, '/metrics', { authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await get(served.port, `/?token=${served.token}`, { host: `evil.example:${served.port}` })).status, 403, 'DNS rebinding');
    assert.equal((await get(served.port, `/?token=${served.token}`, { host: 'localhost:8080' })).status, 200, 'an SSH tunnel’s own port');
    assert.equal((await get(served.port, `/nope?token=${served.token}`)).status, 404);
    const post = await new Promise<number>((resolve) =>
      request({ host: '127.0.0.1', port: served.port, path: `/?token=${served.token}`, method: 'POST' }, (res) => resolve(res.statusCode!)).end(),
    );
    assert.equal(post, 405);
  });

  it('the page: its script and style run by a nonce the CSP names, nothing else allowed, no referrer', async () => {
    const r = await get(served.port, `/?token=${served.token}`);
    assert.equal(r.status, 200);
    const csp = String(r.headers['content-security-policy']);
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce, csp);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /connect-src 'self'/);
    assert.ok(r.body.includes(`<script nonce="${nonce}">`) && r.body.includes(`<style nonce="${nonce}">`));
    assert.doesNotMatch(r.body, /\{\{[A-Z]+\}\}/, 'every placeholder filled');
    assert.doesNotMatch(r.body, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'no other host named');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
    const again = await get(served.port, `/?token=${served.token}`);
    assert.notEqual(/nonce-([^']+)/.exec(String(again.headers['content-security-policy']))?.[1], nonce, 'a fresh nonce per page');
  });

  it('the feed: hello, history, shape, then a reading per interval with both layers', async () => {
    const events = await feed(served.port, served.token, 5);
    assert.deepEqual(
      events.slice(0, 2).map((e) => e[0]),
      ['hello', 'history'],
    );
    assert.equal(events[0]![1].intervalMs, 1000);
    const frames = events.filter((e) => e[0] === 'frame').map((e) => e[1] as LabFrame);
    assert.ok(frames.length >= 1, JSON.stringify(events.map((e) => e[0])));
    assert.deepEqual(
      frames[0]!.vms.map((v) => [v.name, v.parent, v.layer, v.machine, v.state]),
      [
        ['l1', undefined, 1, 'this host', 'running'],
        ['l2', 'l1', 2, 'inside l1', 'running'],
      ],
    );
    assert.ok(events.some((e) => e[0] === 'shape'));
  });

  it('N browsers at once cost one reading per interval', async () => {
    const before = reads;
    const t0 = Date.now();
    await Promise.all([1, 2, 3, 4].map(() => feed(served.port, served.token, 6)));
    const secs = (Date.now() - t0) / 1000;
    // Four feeds of three readings each took about three intervals: about three readings, not twelve.
    assert.ok(reads - before <= Math.ceil(secs) + 1, `${reads - before} readings in ${secs.toFixed(1)} s`);
  });

  it('/metrics: the figures of every VM by lab and VM name, counters with _total, the readings made', async () => {
    cpu = 40;
    const r = await get(served.port, '/metrics', { authorization: `Bearer ${served.token}` });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^grainchart_vm_info\{lab="w",vm="l2",parent="l1",layer="2",machine="inside l1",accel="kvm"\} 1$/m);
    assert.match(r.body, /^grainchart_vm_state\{lab="w",vm="l1",state="running"\} 1$/m);
    assert.match(r.body, /^grainchart_vm_state\{lab="w",vm="l1",state="crashed"\} 0$/m);
    assert.match(r.body, /^# TYPE grainchart_vm_cpu_seconds_total counter$/m);
    assert.match(r.body, /^grainchart_vm_cpu_seconds_total\{lab="w",vm="l2"\} 3\.25$/m);
    assert.match(r.body, /^grainchart_vm_memory_used_bytes\{lab="w",vm="l1"\} 83886080$/m);
    assert.match(r.body, /^grainchart_serve_readings_total\{lab="w"\} \d+$/m);
    assert.doesNotMatch(r.body, /grainchart_vm_ssh_rtt_seconds\{/, 'a failed source gives no series');
  });
});

describe('serve: the reading loop', () => {
  it('reads nothing while nobody follows or scrapes; a scrape gets a reading at once; stop ends it', async () => {
    let n = 0;
    const r = new LabReader(
      lab,
      async () => {
        n++;
        return [stats('l1', undefined, 1)];
      },
      1000,
    );
    r.start();
    await new Promise((done) => setTimeout(done, 1200));
    assert.equal(n, 0, 'idle');
    const f = await r.fresh();
    assert.equal(f.seq, 1);
    assert.equal((await r.fresh()).seq, 1, 'a reading younger than two intervals serves the next scrape');
    await r.stop();
  });
});

describe('serve: the figures', () => {
  it('escapes label values as the format asks', () => {
    assert.equal(labelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  });

  it('a VM that is not running has its place and spec, no figures, and no problems said', () => {
    const v = vmView({ ...stats('l1', undefined, 1), state: 'crashed', host: { ok: false, reason: 'VM is crashed' } }, 'this host');
    assert.equal(v.state, 'crashed');
    assert.equal(v.qemuCpuPercent, undefined);
    assert.deepEqual(v.problems, []);
    const text = prometheusText({ lab: 'w', time: new Date().toISOString(), seq: 1, readMs: 3, vms: [v] });
    assert.match(text, /grainchart_vm_state\{lab="w",vm="l1",state="crashed"\} 1/);
  });

  it('keeps a few minutes of points per VM, network as bytes per second', () => {
    const h = new History(2);
    const at = (s: number, rx: number): LabFrame => ({
      lab: 'w',
      time: new Date(1e12 + s * 1000).toISOString(),
      seq: s,
      readMs: 1,
      vms: [vmView(stats('l1', undefined, s, rx), 'this host')],
    });
    h.add(at(1, 1000));
    h.add(at(3, 5000));
    h.add(at(5, 5000));
    const pts = h.toJSON().l1!;
    assert.equal(pts.length, 2);
    assert.deepEqual(
      pts.map((p) => [p.cpu, p.rx, p.tx]),
      [
        [3, 2000, 4000],
        [5, 0, 0],
      ],
    );
    assert.equal(pts[0]!.mem, 16.7);
  });
});
