// serve: the browser page's update for a 100-VM lab (fake readings, in Debian's Chromium)
// against a 2-VM one; the server's resident memory with the demo lab up and a browser on it,
// against its runtime's floor (an idle HTTP server, bench/bare-server.mjs): the compiled copy
// under plain node (build/js, what the README starts a dashboard with) and the sources under
// node + tsx; and readings per interval with one browser open against five.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { PROJECT_ROOT } from '../tasks/util/paths.ts';
import { refuseStaleLean } from '../tasks/util/kit-entry.ts';
import { startServe } from '../test/helpers/serve.ts';
import { LabReader } from '../tasks/serve/reader.ts';
import { startServer } from '../tasks/serve/server.ts';
import type { LabShape } from '../tasks/serve/shape.ts';
import type { VmStats } from '../tasks/stats/figures.ts';
import { resolveLab } from '../tasks/spec/resolve.ts';
import { loadLab } from '../tasks/spec/load.ts';
import { upLab } from '../tasks/lab/up.ts';
import { downLab } from '../tasks/lab/down.ts';
import { median, type Row } from './stats.ts';

const HOST = { cpus: 64, memoryMiB: 1 << 20 };
const shape: LabShape = {
  at: new Date().toISOString(),
  host: { title: 'bench', cpus: 64, memoryMiB: 1 << 20, accel: 'TCG' },
  alloc: '<svg/>',
  topology: '<svg/>',
  snapshots: [],
  unlisted: [],
};

/** A lab of `n` VMs, ten to a parent, with readings that move every time. */
function fakeLab(n: number) {
  const vms = Array.from({ length: Math.ceil(n / 10) }, (_, p) => ({
    name: `p${p}`,
    memory: '8G',
    cpus: 4,
    boot: { image: 'tiny-nest' },
    vga: 'none',
    children: Array.from({ length: Math.min(9, n - p * 10 - 1) }, (_, c) => ({
      name: `p${p}c${c}`,
      boot: { image: 'tiny' },
      vga: 'none',
      memory: 256,
      network: { sshPort: 2200 + c },
    })),
  }));
  const lab = resolveLab({ name: `fake${n}`, vms }, HOST, 'bench');
  let t = 0;
  const read = async (): Promise<VmStats[]> => {
    t++;
    const all: VmStats[] = [];
    for (const p of lab.vms)
      for (const [vm, parent] of [[p, undefined], ...p.children.map((c) => [c, p.name] as const)] as const) {
        const busy = (t * 7 + all.length * 13) % 100;
        all.push({
          lab: lab.name,
          name: vm.name,
          parent,
          depth: parent ? 2 : 1,
          state: 'running',
          accel: 'tcg',
          cpus: 1,
          memoryMiB: 512,
          forwards: [],
          host: { ok: true, value: { cpuPercent: busy, cpuSeconds: t, rssMiB: 300 } },
          qmp: { ok: true, value: { status: 'running', readBytes: t * 1000, writtenBytes: t * 500 } },
          disk: { ok: true, value: { virtualBytes: 2 ** 30, allocatedBytes: 2 ** 20 * t } },
          guest: {
            ok: true,
            value: {
              cpuBusyPercent: busy,
              memTotalMiB: 480,
              memAvailableMiB: 200 + busy,
              rootTotalMiB: 100,
              rootUsedMiB: 50,
              load1: 0.1,
              uptimeS: t,
              netRxBytes: t * 4096,
              netTxBytes: t * 1024,
            },
          },
          network: { ok: true, value: { open: true, sshRttMs: 20 + busy } },
        });
      }
    return all;
  };
  return { lab, read };
}

export const launch = () =>
  chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });

/** The median time the page took to apply a reading (the first, which builds the cards, left out), over `frames` readings. */
export async function renderMs(browser: Browser, n: number, frames: number): Promise<number> {
  const { lab, read } = fakeLab(n);
  const reader = new LabReader(lab, read, 1000);
  const served = await startServer({ reader, shape: async () => shape, port: 0, token: 'bench', log: () => {} });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await page.goto(served.url);
    await page.waitForFunction((k) => ((window as unknown as { __gc?: { frames: number } }).__gc?.frames ?? 0) >= k, frames + 1, {
      timeout: (frames + 10) * 1500,
    });
    const renders = await page.evaluate(() => (window as unknown as { __gc: { renders: number[] } }).__gc.renders.slice(1));
    return median(renders);
  } finally {
    await page.close();
    await served.close();
  }
}

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

/** `serve demo` started (the compiled copy, or the sources under tsx), once its URL is printed. */
async function serveDemo(env: NodeJS.ProcessEnv, lean: boolean): Promise<{ child: ChildProcess; url: string }> {
  const s = startServe(['serve', 'demo', '--interval', '1.5'], env, { lean });
  return { child: s.child, url: await s.first };
}

async function readingsOf(url: string): Promise<number> {
  const text = await (await fetch(url.replace(/\/\?token=/, '/metrics?token='))).text();
  return Number(/^grainchart_serve_readings_total\{[^}]*\} (\d+)$/m.exec(text)?.[1] ?? NaN);
}

export async function benchServe(runs = 5): Promise<Row[]> {
  const browser = await launch();
  const small: number[] = [];
  const big: number[] = [];
  const rss: number[] = [];
  const floor: number[] = [];
  const rssTsx: number[] = [];
  const floorTsx: number[] = [];
  const one: number[] = [];
  const five: number[] = [];
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-serve-'));
  const env = { GRAINCHART_HOME: home };
  try {
    for (let i = 0; i < runs; i++) {
      small.push((await renderMs(browser, 2, 10)) / 1000);
      big.push((await renderMs(browser, 100, 10)) / 1000);
    }
    process.env.GRAINCHART_HOME = home;
    const demo = await loadLab('demo');
    await upLab(demo, { quiet: true });
    refuseStaleLean();
    const bare = (loader: string[]) =>
      Number(execFileSync(process.execPath, [...loader, join(PROJECT_ROOT, 'bench/bare-server.mjs')], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim());
    for (let i = 0; i < Math.min(runs, 3); i++) {
      floor.push(bare([]));
      floorTsx.push(bare(['--import', 'tsx']));
      // The sources under tsx: the same lab, a browser on it, the same wait.
      const viaTsx = await serveDemo(env, false);
      try {
        const p = await browser.newPage();
        await p.goto(viaTsx.url);
        await new Promise((r) => setTimeout(r, 15_000));
        rssTsx.push(rssMiB(viaTsx.child.pid!));
        await p.close();
      } finally {
        viaTsx.child.kill('SIGTERM');
      }
      const { child, url } = await serveDemo(env, true);
      try {
        const pages = [await browser.newPage()];
        await pages[0]!.goto(url);
        await new Promise((r) => setTimeout(r, 15_000));
        rss.push(rssMiB(child.pid!));
        // Readings per interval: over 15 s with this one browser, then with five.
        for (const [n, into] of [
          [1, one],
          [5, five],
        ] as const) {
          while (pages.length < n) {
            const p = await browser.newPage();
            await p.goto(url);
            pages.push(p);
          }
          // 15 s hold ten intervals: one reading more or less is where the window falls, not a browser.
          const r0 = await readingsOf(url);
          await new Promise((r) => setTimeout(r, 15_000));
          into.push(((await readingsOf(url)) - r0) / 10);
        }
        for (const p of pages) await p.close();
      } finally {
        child.kill('SIGTERM');
      }
    }
    await downLab(demo, { force: true });
  } finally {
    await browser.close();
    rmSync(home, { recursive: true, force: true });
  }
  return [
    { name: 'serve: page update, 2-VM lab (Chromium)', samples: small },
    { name: 'serve: page update, 100-VM lab (fake readings)', samples: big, baseline: 'serve: page update, 2-VM lab (Chromium)', goal: '≤ 50 ms' },
    { name: 'floor: an idle HTTP server under plain node, RSS', samples: floor, unit: 'MiB' },
    {
      name: 'serve demo (build/js, plain node): RSS, lab up, a browser on it',
      samples: rss,
      unit: 'MiB',
      baseline: 'floor: an idle HTTP server under plain node, RSS',
      goal: '≤ 80 MiB',
    },
    { name: 'floor: an idle HTTP server under node + tsx, RSS', samples: floorTsx, unit: 'MiB' },
    {
      name: 'serve demo (sources, node + tsx): RSS, lab up, a browser on it',
      samples: rssTsx,
      unit: 'MiB',
      baseline: 'floor: an idle HTTP server under node + tsx, RSS',
    },
    { name: 'serve: readings per 1.5 s interval, 1 browser', samples: one, unit: 'count' },
    {
      name: 'serve: readings per 1.5 s interval, 5 browsers',
      samples: five,
      unit: 'count',
      baseline: 'serve: readings per 1.5 s interval, 1 browser',
      goal: 'the same (one reading serves all)',
    },
  ];
}
