// `serve` against a real nested lab, in Debian's Chromium: the page shows l2 nested in l1, a
// CPU burn in l2 moves l2's CPU on the page within seconds, the page asks nothing of any host
// but the server, logs nothing to the console, and shows l1 crashed after its QEMU is killed
// -9 while the server runs on, and both running again after the lab is taken down and brought
// up; a request without the token is refused; /metrics passes promtool with series for both
// layers; the page reflows at 200% zoom and the keyboard reaches the VMs; SIGTERM ends the
// server cleanly.  The server is the compiled copy under plain node (build/js).  The README's
// screenshot is this test's (UPDATE_GOLDEN=1 writes docs/serve.png).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { kit } from '../helpers/cli.ts';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';
import { leanStale } from '../../tasks/util/kit-entry.ts';
import { startServe } from '../helpers/serve.ts';
import { specLab, tinyNestVm } from '../helpers/spec-lab.ts';
import { qemusUnder } from '../helpers/vm.ts';

describe('serve: its command line', () => {
  const lab = specLab('gc-serve-cli-', () => ({ name: 'svc', vms: [{ name: 'c1', boot: { image: 'tiny' }, vga: 'none' }] }));
  const start = (...args: string[]) => startServe(['--spec', lab.spec, 'serve', ...args], lab.env);

  it('--json: {url, token, port} first, on a lab that is down; a taken --port and a bad one exit 2 naming it', async () => {
    const c = start('--json');
    try {
      const first = JSON.parse(await c.first) as { url: string; token: string; port: number };
      assert.equal(first.url, `http://127.0.0.1:${first.port}/?token=${first.token}`);
      const m = await fetch(`http://127.0.0.1:${first.port}/metrics`, { headers: { authorization: `Bearer ${first.token}` } });
      assert.match(await m.text(), /^grainchart_vm_state\{lab="svc",vm="c1",state="stopped"\} 1$/m);
      const taken = kit(['--spec', lab.spec, 'serve', '--port', String(first.port)], { env: lab.env });
      assert.equal(taken.status, 2, taken.stderr);
      assert.match(taken.stderr, new RegExp(`--port ${first.port}: 127\\.0\\.0\\.1:${first.port} is taken`));
      assert.equal(taken.stdout, '', 'no URL printed for a server that is not there');
    } finally {
      c.child.kill('SIGTERM');
    }
    const bad = kit(['--spec', lab.spec, 'serve', '--port', '80000'], { env: lab.env });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--port takes a port from 1 to 65535, got "80000"/);
  });
});

describe('serve: the lab in the browser', () => {
  const lab = specLab('gc-serve-', async () => ({ name: 'sv', vms: [await tinyNestVm('s1', 's2')] }));
  const { k, ok } = lab;
  let server: ChildProcess;
  let url = '';
  let stderrOf = () => '';
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const hosts = new Set<string>();
  /** l2's CPU as the page shows it. */
  const cpuOn = (vm: string) => page.$eval(`article[data-vm="${vm}"]`, (e) => (e as HTMLElement).dataset.cpu ?? '');
  const stateOn = (vm: string) => page.$eval(`article[data-vm="${vm}"]`, (e) => (e as HTMLElement).dataset.state ?? '');
  async function until(what: string, f: () => Promise<boolean>, ms: number): Promise<number> {
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      if (await f().catch(() => false)) return Date.now() - t0;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${what}: not within ${ms / 1000} s`);
  }

  before(async () => {
    ok(k('up'));
    // The compiled copy npm ci made (plain node, no tsx loader): the way a dashboard left running is started.
    assert.equal(leanStale(), undefined, 'npm run build');
    const served = startServe(['--spec', lab.spec, 'serve', '--interval', '1'], lab.env, { lean: true });
    server = served.child;
    stderrOf = served.stderr;
    url = await served.first;
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => problems.push(`console ${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => hosts.add(new URL(r.url()).host));
  });
  after(async () => {
    await browser?.close();
    if (server && server.exitCode === null) server.kill('SIGKILL');
  });

  it('prints the URL on 127.0.0.1 with a token; a request without it is refused', async () => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{40,}$/);
    const bare = url.replace(/\?token=.*/, 'metrics');
    assert.equal((await fetch(bare)).status, 401);
    assert.equal((await fetch(url.replace(/token=[\w-]+/, 'token=wrong'))).status, 401);
  });

  it('the page shows l2 nested in l1, both running, and a CPU burn in l2 moves l2’s CPU there within seconds', async () => {
    await page.goto(url);
    await until('both VMs running on the page', async () => (await stateOn('s1')) === 'running' && (await stateOn('s2')) === 'running', 30_000);
    assert.ok(await page.$('li[data-vm="s1"] li[data-vm="s2"][data-parent="s1"][data-layer="2"]'), 's2 drawn inside s1 in the tree');
    // Calm first (a guest just booted is still busy), so the burn is what moves it.
    await until('s2 calm on the page', async () => (await cpuOn('s2')) !== '' && Number(await cpuOn('s2')) < 40, 45_000);
    const idle = Number(await cpuOn('s2'));
    const t0 = Date.now();
    const pid = ok(k('exec', 's2', '--', 'yes >/dev/null 2>&1 </dev/null & echo $!')).stdout.trim();
    try {
      await until('s2’s CPU above 60% on the page', async () => Number(await cpuOn('s2')) > 60, 20_000);
      process.stderr.write(`# the burn showed on the page ${Date.now() - t0} ms after the exec that starts it began (s2 was at ${idle}%)\n`);
    } finally {
      k('exec', 's2', '--', `kill ${pid}`);
    }
    const shot = join(lab.home, 'serve.png');
    await page.screenshot({ path: shot, fullPage: true });
    if (process.env.UPDATE_GOLDEN) copyFileSync(shot, join(PROJECT_ROOT, 'docs/serve.png'));
  });

  it('/metrics passes promtool, with series for both layers', async () => {
    const token = new URL(url).searchParams.get('token')!;
    const r = await fetch(url.replace(/\/\?token=.*/, '/metrics'), { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    const text = await r.text();
    const promtool = spawnSync('bash', [join(PROJECT_ROOT, 'scripts/unpack-promtool.sh'), '--quiet'], { encoding: 'utf8' }).stdout.trim();
    const check = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    for (const [vm, layer, parent, machine] of [
      ['s1', '1', '', 'this host'],
      ['s2', '2', 's1', 'inside s1'],
    ]) {
      assert.match(
        text,
        new RegExp(`^grainchart_vm_info\\{lab="sv",vm="${vm}",parent="${parent}",layer="${layer}",machine="${machine}",accel="\\w+"\\} 1$`, 'm'),
      );
      assert.match(text, new RegExp(`^grainchart_vm_cpu_busy_ratio\\{lab="sv",vm="${vm}"\\} [\\d.]+$`, 'm'));
      assert.match(text, new RegExp(`^grainchart_vm_network_receive_bytes_total\\{lab="sv",vm="${vm}"\\} \\d+$`, 'm'));
    }
  });

  it('at 200% zoom the page reflows; the keyboard reaches the VMs', async () => {
    // 200% zoom of a 1280-pixel window is a 640-pixel one: nothing wider than the window.
    await page.setViewportSize({ width: 640, height: 900 });
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 640);
    await page.focus('body');
    const reached: string[] = [];
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press('Tab');
      reached.push(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.vm ?? document.activeElement?.textContent ?? ''));
    }
    assert.ok(reached.includes('s2'), `Tab went to: ${reached.join(' | ')}`);
  });

  it('a VM killed -9 shows as crashed, the page live on; nothing asked of another host, nothing on the console', async () => {
    const [l1] = qemusUnder(lab.home);
    process.kill(l1!, 'SIGKILL');
    await until('s1 crashed on the page', async () => (await stateOn('s1')) === 'crashed', 20_000);
    const seq = await page.evaluate(() => (window as unknown as { __gc: { frames: number } }).__gc.frames);
    await until('frames still coming', async () => (await page.evaluate(() => (window as unknown as { __gc: { frames: number } }).__gc.frames)) > seq, 10_000);
    assert.deepEqual([...hosts], [new URL(url).host]);
    assert.deepEqual(problems, []);
  });

  it('the lab taken down and brought up again: the page follows it back to running, on the same server', async () => {
    ok(k('down', '--force', '--yes'));
    await until('s1 stopped on the page, no CPU figure', async () => (await stateOn('s1')) === 'stopped' && (await cpuOn('s2')) === '', 20_000);
    ok(k('up'));
    await until('both VMs running on the page again', async () => (await stateOn('s1')) === 'running' && (await stateOn('s2')) === 'running', 30_000);
    await until('s2’s CPU read again', async () => (await cpuOn('s2')) !== '', 20_000);
    assert.deepEqual(problems, []);
  });

  it('SIGTERM ends it cleanly', async () => {
    const code = await new Promise<number | null>((resolve) => {
      server.once('exit', (c) => resolve(c));
      server.kill('SIGTERM');
    });
    assert.equal(code, 0, stderrOf());
    assert.match(stderrOf(), /serve: SIGTERM, ending/);
  });
});
