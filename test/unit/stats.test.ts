import { describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import assert from 'node:assert/strict';
import { busyPercent, cpuTicks, guestScript, parseGuest, type VmStats } from '../../tasks/stats/figures.ts';
import { SampleMemo } from '../../tasks/stats/memo.ts';
import { uptimeOf } from '../../tasks/qemu/process.ts';
import { renderCard, renderCards } from '../../tasks/chart/card.ts';
import { width } from '../../tasks/chart/text.ts';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';

describe('stat parsers', () => {
  it('reads utime + stime from /proc/PID/stat, whatever the command name holds', () => {
    assert.equal(cpuTicks('1234 (qemu-system-x86) S 1 2 3 4 5 6 7 8 9 10 250 40 0 0'), 290);
    assert.equal(cpuTicks('99 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 7 3 0 0'), 10);
  });
  it('computes CPU busy % from two /proc/stat cpu lines', () => {
    assert.equal(busyPercent('cpu  100 0 100 800 0 0 0 0 0 0', 'cpu  180 0 120 900 0 0 0 0 0 0'), 50);
    assert.equal(busyPercent('cpu  100 0 100 800 0 0 0 0', 'cpu  100 0 100 800 0 0 0 0'), 0);
  });
  it('parses the tagged guest output', () => {
    const out = [
      'cpu0: cpu  1644 0 2119 6257 8 0 342 0 1103 0',
      'cpu1: cpu  1700 0 2150 6300 8 0 342 0 1103 0',
      'mem: MemTotal: 2026008 kB MemAvailable: 1693804 kB ',
      'df: /dev/vda 189882 83253 92089 47% /',
      'load: 0.69 0.25 0.09 2/68 568',
      'uptime: 60.48 63.60',
    ].join('\n');
    assert.deepEqual(parseGuest(out), {
      cpuBusyPercent: 66.9,
      memTotalMiB: 1979,
      memAvailableMiB: 1654,
      rootTotalMiB: 185,
      rootUsedMiB: 81,
      load1: 0.69,
      uptimeS: 60.48,
    });
    assert.throws(() => parseGuest('garbage'), /unexpected guest output/);
    // The network's bytes when the guest printed them (every interface but loopback).
    assert.deepEqual({ ...parseGuest(`${out}\nnet: 123456889 987854`) }, { ...parseGuest(out), netRxBytes: 123456889, netTxBytes: 987854 });
  });
  it('sums the bytes of every interface but loopback, in sh', () => {
    const s = guestScript(0);
    const dir = mkdtempSync(join(tmpdir(), 'gc-netdev-'));
    try {
      const dev = join(dir, 'dev');
      writeFileSync(
        dev,
        [
          'Inter-|   Receive                                                |  Transmit',
          ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
          '    lo:    1234      10    0    0    0     0          0         0     1234      10    0    0    0     0       0          0',
          '  eth0:123456789  1000    0    0    0     0          0         0   987654     900    0    0    0     0       0          0',
          '  eth1: 100 1 0 0 0 0 0 0 200 2 0 0 0 0 0 0',
          '',
        ].join('\n'),
      );
      const line = s.slice(s.indexOf('rx=0')).replace('/proc/net/dev', dev);
      assert.equal(execFileSync('sh', ['-c', line], { encoding: 'utf8' }), 'net: 123456889 987854\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('starts the window at a remembered cpu line when the script read only the end', () => {
    const out = [
      'cpu1: cpu  1700 0 2150 6300 8 0 342 0 1103 0',
      'mem: MemTotal: 2026008 kB MemAvailable: 1693804 kB ',
      'df: /dev/vda 189882 83253 92089 47% /',
      'load: 0.69 0.25 0.09 2/68 568',
      'uptime: 60.48 63.60',
    ].join('\n');
    assert.equal(parseGuest(out, 'cpu  1644 0 2119 6257 8 0 342 0 1103 0').cpuBusyPercent, 66.9);
    assert.throws(() => parseGuest(out), /unexpected guest output/, 'no start of the window at all');
    assert.doesNotMatch(guestScript(0, false), /sleep|c0/);
    assert.match(guestScript(120, false), /sleep 0\.12; read -r c1/);
    assert.match(guestScript(250), /^read -r c0 < \/proc\/stat; echo "cpu0: \$c0"; sleep 0\.25; read -r c1/);
  });
  it('remembers readings: the wait left of a window, and nothing once too old', async () => {
    const memo = new SampleMemo(200);
    assert.equal(memo.prior('l1/guest', 250), undefined);
    memo.keep('l1/guest', 'cpu  1 2 3 4');
    const fresh = memo.prior<string>('l1/guest', 250)!;
    assert.equal(fresh.value, 'cpu  1 2 3 4');
    assert.ok(fresh.waitMs > 200 && fresh.waitMs <= 250, `wait ${fresh.waitMs}`);
    await new Promise((r) => setTimeout(r, 120));
    const older = memo.prior<string>('l1/guest', 100)!;
    assert.equal(older.waitMs, 0, 'the window is open long enough already');
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(memo.prior('l1/guest', 100), undefined, 'older than maxAgeMs');
  });
  it('reads a nested QEMU’s uptime from its /proc stat and the parent’s uptime', () => {
    // Field 22, starttime, in 100 Hz ticks: 1234 → 12 s after the parent booted.
    const stat = `190 (qemu-system-x86) S 1 189 189 0 -1 4194624 ${Array.from({ length: 12 }, () => 0).join(' ')} 1234 1073741824 40000`;
    assert.equal(uptimeOf(stat, 100.7)!.toFixed(2), '88.36');
    assert.equal(uptimeOf(stat, 5), undefined);
  });
});

const GOLDEN = join(PROJECT_ROOT, 'test/golden');
function golden(name: string, actual: string) {
  const file = join(GOLDEN, `${name}.txt`);
  if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, `${actual}\n`);
  assert.equal(`${actual}\n`, readFileSync(file, 'utf8'));
}

const up: VmStats = {
  lab: 'demo',
  name: 'l1',
  title: 'demo L1 🚀',
  depth: 1,
  state: 'running',
  accel: 'tcg',
  cpus: 2,
  memoryMiB: 2048,
  forwards: [{ bind: '127.0.0.1', host: 10022, guest: 22, proto: 'tcp' }],
  host: { ok: true, value: { cpuPercent: 45.5, rssMiB: 768 } },
  qmp: { ok: true, value: { status: 'running', balloonMiB: 2048 } },
  disk: { ok: true, value: { virtualBytes: 204 * 2 ** 20, allocatedBytes: 3 * 2 ** 20 } },
  guest: { ok: true, value: { cpuBusyPercent: 80, memTotalMiB: 2000, memAvailableMiB: 600, rootTotalMiB: 185, rootUsedMiB: 92, load1: 1.2, uptimeS: 60 } },
  network: { ok: true, value: { port: 10022, open: true, sshRttMs: 42 } },
};
const blocked: VmStats = {
  ...up,
  name: 'l2',
  title: undefined,
  parent: 'l1',
  depth: 2,
  accel: 'kvm',
  cpus: 1,
  guest: { ok: false, reason: 'SSH timed out after 4 s' },
  network: { ok: false, reason: 'network timed out after 3 s' },
};

const stopped: VmStats = {
  ...up,
  name: 'l3',
  title: undefined,
  state: 'stopped',
  accel: undefined,
  diskSizeBytes: 8 * 2 ** 30,
  host: { ok: false, reason: 'VM is stopped' },
  qmp: { ok: false, reason: 'VM is stopped' },
  guest: { ok: false, reason: 'VM is stopped' },
  network: { ok: false, reason: 'VM is stopped' },
};

describe('resource cards', () => {
  it('shows a stopped VM with what it is given, its disk as allocated, and its forwards', () => {
    const o = { width: 80, ascii: false, color: false };
    assert.equal(
      renderCard(stopped, o),
      ['l3 · guest VM · stopped', '  Given    2 CPUs · 2 GiB · disk 204 MiB, 3 MiB allocated', '  Forwards 127.0.0.1:10022→22', '  not running'].join('\n'),
    );
    const suspended = renderCard({ ...stopped, state: 'suspended', savedBytes: 412 * 2 ** 20 }, o);
    assert.match(suspended, /· suspended\n[\s\S]*\n {2}suspended: its saved state takes 412 MiB on disk$/);
    assert.match(renderCard({ ...stopped, state: 'suspended', parent: 'l1' }, o), /\n {2}suspended inside l1$/);
    const fresh = renderCard({ ...stopped, disk: { ok: false, reason: '/x/root.qcow2: ENOENT' }, parent: 'l1', forwards: [] }, o);
    assert.match(fresh, /Given {4}2 CPUs · 2 GiB · disk 8 GiB, not made yet\n {2}not running$/);
    const away = renderCard({ ...stopped, disk: { ok: false, reason: 'it is inside l1, which cannot be reached' }, parent: 'l1' }, { ...o, width: 100 });
    assert.match(away, /disk 8 GiB, allocation unknown: it is inside l1, which cannot be reached\n {2}Forwards 10022→22 \(inside l1\)\n/);
  });

  it('names libvirt’s domstats in the head of a running VM whose figures come from it, and only then', () => {
    const o = { width: 100, ascii: false, color: false };
    assert.equal(renderCard({ ...up, figuresFrom: 'libvirt domstats' }, o).split('\n')[0], 'l1 "demo L1 🚀" · guest VM · running · tcg · libvirt domstats');
    assert.equal(renderCard(up, o).split('\n')[0], 'l1 "demo L1 🚀" · guest VM · running · tcg');
    assert.equal(renderCard({ ...stopped, figuresFrom: 'libvirt domstats' }, o).split('\n')[0], 'l3 · guest VM · stopped');
  });

  for (const w of [40, 100])
    for (const ascii of [false, true])
      it(`at width ${w}${ascii ? ', ASCII' : ''}: bars for what was read, ? and the reason for what was not`, () => {
        const o = { width: w, ascii, color: false };
        const text = renderCards([up, blocked], o);
        for (const line of text.split('\n')) assert.ok(width(line) <= w, `wider than ${w}: ${line}`);
        assert.match(renderCard(blocked, { width: 100, ascii, color: false }), /^CPU\s+\?\s+SSH timed out after 4 s$/m);
        golden(`cards-${w}${ascii ? '-ascii' : ''}`, text);
      });
});

import { renderWatch } from '../../tasks/cmd/lab/watch.ts';

describe('watch table', () => {
  it('shows each VM now and over the last minute, with ? where the guest could not be read', () => {
    const history = new Map([
      ['l1', { cpu: [10, 50, 80], mem: [60, 65, 70] }],
      ['l2', { cpu: [5, undefined, undefined], mem: [10, undefined, undefined] }],
    ]);
    for (const ascii of [false, true])
      golden(`watch-100${ascii ? '-ascii' : ''}`, renderWatch([up, blocked], history, { width: 100, ascii, color: false }, 10));
    const text = renderWatch([up, blocked], history, { width: 100, ascii: false, color: false }, 10);
    assert.match(text, /^l1\s+running\s+80%\s+▂▅▇\s+70%\s+▅▆▆\s+46%\s+768 MiB$/m);
    assert.match(text, /^ {2}l2\s+running\s+\?\s+▁\s+\?\s+▂\s+46%\s+768 MiB\s+SSH timed out after 4 s$/m);
  });
});
