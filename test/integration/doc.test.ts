// The lab report: committed for the seed lab and held to a fresh render; opened in headless
// Chromium, where every VM is on the page, marked with its state, and every chart is drawn.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kit } from '../helpers/cli.ts';
import { lookAt } from '../helpers/browser.ts';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';

describe('doc', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gc-doc-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // The committed report is rendered with the default state folder (./.grainchart).
  const defaultHome = { GRAINCHART_HOME: undefined };

  it('docs/labs/nixos-sway.md and .html are what doc renders now (regenerate with: node --import tsx --import ./test/helpers/pinned-host.mjs tasks.ts doc nixos-sway)', () => {
    // The host's CPUs and memory pinned (test/helpers/pinned-host.mjs): the report is the same on every machine of this kind.
    const r = kit(['doc', 'nixos-sway', '--out', dir, '--json'], { env: defaultHome, preload: [join(PROJECT_ROOT, 'test/helpers/pinned-host.mjs')] });
    assert.equal(r.status, 0, r.stderr);
    for (const ext of ['md', 'html'])
      assert.equal(
        readFileSync(join(dir, `nixos-sway.${ext}`), 'utf8'),
        readFileSync(join(PROJECT_ROOT, 'docs/labs', `nixos-sway.${ext}`), 'utf8'),
        `docs/labs/nixos-sway.${ext} drifted`,
      );
  });

  it('renders a stopped lab in Chromium: every VM on the page, marked stopped, every SVG drawn', async () => {
    const home = mkdtempSync(join(tmpdir(), 'gc-doc-home-'));
    const r = kit(['doc', 'demo', '--out', dir], { env: { GRAINCHART_HOME: home } });
    rmSync(home, { recursive: true, force: true });
    assert.equal(r.status, 0, r.stderr);
    const look = await lookAt(join(dir, 'demo.html'), join(dir, 'demo.png'));
    assert.deepEqual(look.vms, [
      { name: 'l1', state: 'stopped' },
      { name: 'l2', state: 'stopped' },
    ]);
    for (const name of ['l1', 'l2', 'Hierarchy', 'Allocation against the host', 'Network', 'No live stats: the VM is stopped'])
      assert.ok(look.text.includes(name), name);
    assert.deepEqual(
      look.svgs.map((s) => s.label),
      ['lab hierarchy', 'allocation against the host', 'network topology', 'parameters flow', 'parameters flow'],
    );
    for (const s of look.svgs) assert.ok(s.width > 50 && s.height > 20, `${s.label}: ${s.width}×${s.height}`);
    assert.ok(look.screenshotBytes > 10_000);
    const md = readFileSync(join(dir, 'demo.md'), 'utf8');
    assert.match(md, /## l1 — demo L1\n\nState: \*\*stopped\*\*/);
    assert.match(md, /### Parameters flow\n\n```text\nQEMU runs on this host/);
  });

  it('refuses a bad --out with exit 2', () => {
    const r = kit(['doc', 'demo', '--out', '']);
    assert.equal(r.status, 2);
  });
});
