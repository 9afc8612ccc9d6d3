// Golden tests for every chart shape, in Unicode and ASCII, at widths 40 and 100, with an
// emoji and a CJK label.  Goldens live in test/golden/; UPDATE_GOLDEN=1 rewrites them (then
// read the diff before committing).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderBars, bar } from '../../tasks/chart/bar.ts';
import { sparkline } from '../../tasks/chart/sparkline.ts';
import { renderTable } from '../../tasks/chart/table.ts';
import { renderTree } from '../../tasks/chart/tree.ts';
import { renderBox } from '../../tasks/chart/box.ts';
import { chartOptions, glyphs, type ChartOptions } from '../../tasks/chart/style.ts';
import { truncate, width } from '../../tasks/chart/text.ts';
import { golden } from '../helpers/golden.ts';

const shapes: Record<string, (o: ChartOptions) => string> = {
  bars: (o) =>
    renderBars(
      [
        { label: 'CPU 🚀', fraction: 0.8, detail: '2 cores' },
        { label: 'memory', fraction: 0.7, detail: '1.4 of 2 GiB' },
        { label: '磁盘 disk', fraction: 0.05, detail: '0.5 of 10 GiB' },
        { label: 'network', reason: 'ssh timed out after 2 s' },
      ],
      o,
    ),
  sparkline: (o) => `cpu 🚀 [${sparkline([0, 5, 10, 20, 40, 60, 80, 100, undefined, 50, 25], 10, o, { max: 100 })}]`,
  table: (o) =>
    renderTable(
      [{ header: 'VM' }, { header: 'STATE' }, { header: 'PORTS' }, { header: 'CPU', align: 'right' }],
      [
        ['l1 🚀', 'running', `127.0.0.1:10022${glyphs(o).arrow}22`, '12%'],
        ['漢字-vm', 'stopped', '-', '-'],
        ['a-very-long-vm-name-that-needs-cutting', 'crashed', `127.0.0.1:2224${glyphs(o).arrow}22`, '100%'],
      ],
      o,
    ),
  tree: (o) =>
    renderTree(
      [
        {
          label: 'this machine (host)',
          children: [
            { label: 'l1 🚀 (guest VM) running, tcg [SSH 10022]', children: [{ label: 'l2 (nested VM) running, kvm [SSH 2224 via l1]' }] },
            { label: '漢字-vm (guest VM) stopped' },
          ],
        },
      ],
      o,
    ),
  boxes: (o) =>
    renderTree(
      [
        {
          label: renderBox('host: this machine', ['127.0.0.1 only'], o),
          children: [
            {
              label: renderBox('l1 🚀', ['10.0.2.15/24 gw 10.0.2.2', `127.0.0.1:10022 ${glyphs(o).arrow} 22`], o),
              children: [{ label: renderBox('l2', ['10.0.2.15/24 behind l1'], o) }],
            },
          ],
        },
      ],
      o,
    ),
};

describe('chart goldens', () => {
  for (const [shape, draw] of Object.entries(shapes))
    for (const w of [40, 100])
      for (const ascii of [false, true])
        it(`${shape} at width ${w}${ascii ? ', ASCII' : ''}`, () => {
          const text = draw({ width: w, ascii, color: false });
          for (const line of text.split('\n')) assert.ok(width(line) <= w, `line wider than ${w}: ${line}`);
          if (ascii) assert.doesNotMatch(text.replace(/[🚀漢字磁盘]/gu, ''), /[^\x20-\x7e\n]/, 'ASCII mode drew a non-ASCII glyph');
          golden(`${shape}-${w}${ascii ? '-ascii' : ''}`, text);
        });
});

describe('chart details', () => {
  it('bars are proportional and coloured by level only when colour is on', () => {
    assert.equal(bar(0.8, 10, { ascii: false, color: false }), '████████░░');
    assert.equal(bar(0.25, 4, { ascii: true, color: false }), '#---');
    assert.equal(bar(0.9, 2, { ascii: false, color: true }), '\u001b[31m██\u001b[0m');
  });
  it('colour only on a TTY and never with NO_COLOR', () => {
    assert.equal(chartOptions({ stream: { isTTY: true, columns: 120 }, env: {} }).color, true);
    assert.equal(chartOptions({ stream: { isTTY: true, columns: 120 }, env: { NO_COLOR: '' } }).color, false);
    assert.equal(chartOptions({ stream: { isTTY: false }, env: {} }).color, false);
    assert.equal(chartOptions({ stream: { isTTY: true, columns: 0 }, env: {} }).width, 80);
  });
  it('cuts by display columns, never inside a wide character', () => {
    assert.equal(truncate('漢字漢字', 5), '漢字…');
    assert.equal(width(truncate('ab🚀cd', 4)), 3);
  });
});

import { allocData, renderAlloc, renderLabTree, renderTopology, topologyData, treeData, type HostTotals } from '../../tasks/chart/lab-charts.ts';
import { resolveLab } from '../../tasks/spec/resolve.ts';
import { readLabInput } from '../../tasks/spec/load.ts';
import type { VmStatus } from '../../tasks/vm/status.ts';
import { GiB } from '../../tasks/spec/size.ts';

describe('lab chart goldens', () => {
  const host: HostTotals = { title: 'this machine', cpus: 2, memoryMiB: 24064, freeDiskBytes: 80 * GiB, accel: 'KVM unusable, TCG' };
  const rows: VmStatus[] = [
    { lab: 'demo', name: 'l1', depth: 1, state: 'running', accel: 'tcg', forwards: [] },
    { lab: 'demo', name: 'l2', parent: 'l1', depth: 2, state: 'crashed', accel: 'kvm', forwards: [] },
  ];
  const load = async (name: string) => resolveLab((await readLabInput(name)).input, { cpus: 2, memoryMiB: 24064 }, name);
  for (const w of [40, 100])
    for (const ascii of [false, true]) {
      const o = { width: w, ascii, color: false };
      const tag = `${w}${ascii ? '-ascii' : ''}`;
      it(`tree, alloc and topology of demo at width ${tag}`, async () => {
        const lab = await load('demo');
        const charts = {
          tree: renderLabTree(treeData(lab, host, rows), o),
          alloc: renderAlloc(allocData(lab, host, { l1: 204 * 2 ** 20 }), o),
          topology: renderTopology(topologyData(lab, rows, o), o),
        };
        for (const [name, text] of Object.entries(charts)) {
          for (const line of text.split('\n')) assert.ok(width(line) <= w, `${name}: line wider than ${w}: ${line}`);
          if (ascii) assert.doesNotMatch(text, /[^\x20-\x7e\n]/, `${name}: ASCII mode drew a non-ASCII glyph`);
          golden(`lab-${name}-demo-${tag}`, text);
        }
      });
    }
  it('tree says which VMs run on a libvirt connection (the lab’s, or a VM’s own)', async () => {
    const input = (await readLabInput('demo')).input as { host?: object; vms: object[] };
    const second = { name: 'side', memory: 256, boot: { image: 'tiny' }, network: { sshPort: 10023 } };
    const lab = resolveLab({ ...input, host: { libvirt: { uri: 'qemu:///system' } }, vms: [...input.vms, second] }, { cpus: 2, memoryMiB: 24064 }, 'demo');
    const text = renderLabTree(treeData(lab, host, rows), { width: 200, ascii: false, color: false });
    assert.match(text, /│ {2}└─ l2 "demo L2" \(nested VM\) crashed/);
    assert.match(text, /├─ l1 "demo L1" \(guest VM on libvirt qemu:\/\/\/system\) running/);
    assert.match(text, /└─ side \(guest VM on libvirt qemu:\/\/\/system\) unknown/);
    const own = resolveLab({ ...input, vms: [...input.vms, { ...second, libvirt: { uri: 'qemu:///system' } }] }, { cpus: 2, memoryMiB: 24064 }, 'demo');
    const mixed = renderLabTree(treeData(own, host, rows), { width: 200, ascii: false, color: false });
    assert.match(mixed, /├─ l1 "demo L1" \(guest VM\) running/);
    assert.match(mixed, /└─ side \(guest VM on libvirt qemu:\/\/\/system\)/);
  });
  it('tree shows what a suspended lab’s saved state takes on disk', async () => {
    const lab = await load('demo');
    const saved: VmStatus[] = [
      { lab: 'demo', name: 'l1', depth: 1, state: 'suspended', forwards: [], savedBytes: 412 * 2 ** 20 },
      { lab: 'demo', name: 'l2', parent: 'l1', depth: 2, state: 'suspended', forwards: [] },
    ];
    const text = renderLabTree(treeData(lab, host, saved), { width: 200, ascii: false, color: false });
    assert.match(text, /l1 "demo L1" \(guest VM\) suspended \(412 MiB saved\) · /);
    assert.match(text, /l2 "demo L2" \(nested VM\) suspended · /);
  });
  it('alloc warns on overcommit and shows the seed’s layers', async () => {
    const d = allocData(await load('nixos-sway'), host);
    assert.deepEqual(d.warnings, ['CPUs overcommitted: guests ask 4 vCPUs, the host has 2 after its reserve (they share time)']);
    assert.deepEqual(d.memory, [
      { name: 'nixos-sway', parent: undefined, memoryMiB: 8192 },
      { name: 'debian', parent: 'nixos-sway', memoryMiB: 2048 },
    ]);
    const tight = allocData(await load('nixos-sway'), { ...host, memoryMiB: 8192 });
    assert.match(tight.warnings[0]!, /^memory overcommitted: guests ask 8 GiB, the host has 7 GiB after its 1 GiB reserve$/);
  });
  it('topology puts every guest at 10.0.2.15 behind its own NAT, nested forwards inside the parent', async () => {
    const d = topologyData(await load('nixos-sway'), [], { ascii: false });
    assert.deepEqual(d.host.listens, ['127.0.0.1:2223 → nixos-sway:22']);
    assert.deepEqual(d.vms[1], {
      name: 'debian',
      parent: 'nixos-sway',
      address: '10.0.2.15/24',
      gateway: '10.0.2.2',
      dns: '10.0.2.3',
      forwards: ['127.0.0.1:2224 → debian:22 (in nixos-sway)'],
      state: 'unknown',
    });
  });
});

describe('width', () => {
  it('agrees with string-width on the fast path and beyond', async () => {
    const { default: stringWidth } = await import('string-width');
    for (const s of ['abc', '██░░ 80%', '├─ l1 · running → 22', '┌─ box ─┐', '●●●●○', 'l1 🚀', '漢字', 'e\u0301', '…', '⚠ warn'])
      assert.equal(width(s), stringWidth(s), s);
  });
});
