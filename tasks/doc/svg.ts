// SVG from the same chart data the terminal charts draw (tree, allocation, topology,
// parameters flow, sparklines), for the HTML report: plain elements, inline styles, no
// scripts or external assets, so the file reads the same offline.
import type { AllocData, TopologyData, TreeData } from '../chart/lab-charts.ts';
import type { ArgSection } from '../qemu/plan.ts';
import { formatBytes, MiB } from '../spec/size.ts';
import { wrap } from '../explain/render.ts';

export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const FONT = 'font-family="ui-monospace, Menlo, Consolas, monospace" font-size="13"';
const CHAR = 7.8; // px per character at 13px monospace, for box widths
const STATE_COLOR: Record<string, string> = {
  running: '#2e7d32',
  booting: '#f9a825',
  stopped: '#757575',
  crashed: '#c62828',
  suspended: '#1565c0',
  unknown: '#757575',
};

function svg(w: number, h: number, body: string[], label: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${esc(label)}" width="${Math.ceil(w)}" height="${Math.ceil(h)}" viewBox="0 0 ${Math.ceil(w)} ${Math.ceil(h)}" ${FONT}>${body.join('')}</svg>`;
}

const text = (x: number, y: number, s: string, extra = '') => `<text x="${x}" y="${y}"${extra ? ` ${extra}` : ''}>${esc(s)}</text>`;

/** Boxes for host → guests → nested, each linked to its parent by an elbow line. */
export function svgTree(d: TreeData): string {
  const rowH = 46;
  const lines: { depth: number; title: string; sub: string; state?: string; parentRow?: number }[] = [];
  lines.push({ depth: 0, title: `${d.host.title} (host)`, sub: `${d.host.cpus} CPUs · ${formatBytes(d.host.memoryMiB * MiB)} · ${d.host.accel}` });
  const rowOf = new Map<string, number>();
  for (const v of d.vms) {
    rowOf.set(v.name, lines.length);
    lines.push({
      depth: v.depth,
      title: `${v.name}${v.title ? ` "${v.title}"` : ''}`,
      sub: [v.state, v.accel, `${v.cpus} CPU${v.cpus === 1 ? '' : 's'}`, formatBytes(v.memoryMiB * MiB), v.ssh && `SSH ${v.ssh}`].filter(Boolean).join(' · '),
      state: v.state,
      parentRow: v.parent ? rowOf.get(v.parent) : 0,
    });
  }
  const boxW = (l: (typeof lines)[number]) => Math.max(l.title.length, l.sub.length) * CHAR + 20;
  const width = Math.max(...lines.map((l) => l.depth * 36 + boxW(l))) + 10;
  const body: string[] = [];
  lines.forEach((l, i) => {
    const x = 4 + l.depth * 36;
    const y = 4 + i * rowH;
    if (l.parentRow !== undefined) {
      const px = 4 + lines[l.parentRow]!.depth * 36 + 14;
      body.push(`<path d="M${px} ${4 + l.parentRow * rowH + 38} V${y + 19} H${x}" fill="none" stroke="#90a4ae"/>`);
    }
    body.push(
      `<rect x="${x}" y="${y}" width="${boxW(l)}" height="38" rx="5" fill="#fafafa" stroke="${STATE_COLOR[l.state ?? ''] ?? '#37474f'}" stroke-width="1.5"/>`,
    );
    body.push(text(x + 10, y + 16, l.title, 'font-weight="bold"'), text(x + 10, y + 31, l.sub, 'fill="#455a64"'));
  });
  return svg(width, lines.length * rowH + 4, body, 'lab hierarchy');
}

/** Stacked bars: the host's memory and CPUs split into the guests' shares, the reserve and what is free. */
export function svgAlloc(d: AllocData): string {
  const W = 640;
  const palette = ['#1e88e5', '#43a047', '#fb8c00', '#8e24aa', '#00897b', '#e53935', '#3949ab'];
  const body: string[] = [];
  const rows: [string, number, { name: string; value: number }[], (v: number) => string][] = [
    [
      'memory',
      d.host.memoryMiB,
      [...d.memory.filter((m) => !m.parent).map((m) => ({ name: m.name, value: m.memoryMiB })), { name: 'host reserve', value: d.reserve.memoryMiB }],
      (v) => formatBytes(v * MiB),
    ],
    [
      'CPUs',
      d.host.cpus,
      [
        ...d.cpus.filter((c) => !c.parent).map((c) => ({ name: c.name, value: c.cpus })),
        ...(d.reserve.cpus ? [{ name: 'host reserve', value: d.reserve.cpus }] : []),
      ],
      (v) => `${v}`,
    ],
  ];
  let y = 4;
  for (const [label, total, parts, fmt] of rows) {
    const asked = parts.reduce((s, p) => s + p.value, 0);
    const scale = W / Math.max(total, asked);
    body.push(text(4, y + 14, `${label}: ${fmt(asked)} asked of ${fmt(total)}${asked > total ? ' — overcommitted' : ''}`, 'font-weight="bold"'));
    y += 20;
    let x = 4;
    parts.forEach((p, i) => {
      const w = p.value * scale;
      const color = p.name === 'host reserve' ? '#b0bec5' : palette[i % palette.length];
      body.push(`<rect x="${x}" y="${y}" width="${Math.max(1, w)}" height="22" fill="${color}"><title>${esc(`${p.name}: ${fmt(p.value)}`)}</title></rect>`);
      if (w > (p.name.length + 1) * CHAR) body.push(text(x + 4, y + 15, p.name, 'fill="#fff"'));
      x += w;
    });
    body.push(`<rect x="4" y="${y}" width="${total * scale}" height="22" fill="none" stroke="#37474f"/>`);
    y += 30;
    body.push(text(4, y + 10, parts.map((p) => `${p.name} ${fmt(p.value)}`).join(' · '), 'fill="#455a64"'));
    y += 22;
  }
  return svg(W + 10, y, body, 'allocation against the host');
}

/** The host's loopback forwards into each VM's user-mode NAT, nested NATs inside their parent's box. */
export function svgTopology(d: TopologyData): string {
  const body: string[] = [];
  const boxH = (v: TopologyData['vms'][number]) => 44 + v.forwards.length * 16;
  const header = (v: TopologyData['vms'][number]) => `${v.name} (${v.state}) — ${v.address}, NAT ${v.gateway}, DNS ${v.dns}`;
  const widthOf = (v: TopologyData['vms'][number]) => Math.max(header(v).length, ...v.forwards.map((f) => f.length)) * CHAR + 24;
  const top = d.vms.filter((v) => !v.parent);
  let y = 4;
  const hostLine = `${d.host.title}: listens on ${d.host.listens.join(', ') || 'nothing'}`;
  body.push(text(4, y + 14, hostLine, 'font-weight="bold"'));
  y += 26;
  let maxW = hostLine.length * CHAR + 12;
  const drawVm = (v: TopologyData['vms'][number], x: number) => {
    const kids = d.vms.filter((c) => c.parent === v.name);
    const kidsH = kids.reduce((s, c) => s + boxH(c) + 12, 0);
    const w = Math.max(widthOf(v), ...kids.map((c) => widthOf(c) + 24));
    const h = boxH(v) + kidsH;
    const y0 = y;
    body.push(`<rect x="${x}" y="${y0}" width="${w}" height="${h}" rx="6" fill="#fff" stroke="${STATE_COLOR[v.state] ?? '#37474f'}" stroke-width="1.5"/>`);
    body.push(text(x + 10, y0 + 17, header(v), 'font-weight="bold"'));
    for (const [i, f] of v.forwards.entries()) body.push(text(x + 10, y0 + 35 + i * 16, f, 'fill="#455a64"'));
    y = y0 + boxH(v);
    for (const c of kids) drawVm(c, x + 16);
    y = y0 + h + 12;
    maxW = Math.max(maxW, x + w + 8);
  };
  for (const v of top) drawVm(v, 4);
  return svg(maxW, y, body, 'network topology');
}

/** The parameters flow as a column of boxes joined by arrows. */
export function svgFlow(plan: ArgSection[]): string {
  const body: string[] = [];
  let y = 4;
  const W = 760;
  for (const [i, s] of plan.entries()) {
    const flags = s.args.join(' ');
    const flagLines = wrap(flags, 78);
    const noteLines = wrap(s.note, 84);
    const h = 22 + flagLines.length * 16 + noteLines.length * 15;
    body.push(`<rect x="4" y="${y}" width="${W}" height="${h}" rx="5" fill="#f5f7fa" stroke="#78909c"/>`);
    body.push(text(12, y + 16, `${i + 1}. ${s.section}`, 'font-weight="bold"'));
    for (const [j, l] of flagLines.entries()) body.push(text(120, y + 16 + j * 16, l, 'fill="#0d47a1"'));
    for (const [j, l] of noteLines.entries()) body.push(text(120, y + 20 + flagLines.length * 16 + j * 15, l, 'fill="#455a64" font-size="12"'));
    y += h;
    if (i < plan.length - 1) {
      body.push(`<path d="M60 ${y} v12 m-5 -6 l5 6 l5 -6" fill="none" stroke="#78909c"/>`);
      y += 14;
    }
  }
  return svg(W + 10, y + 4, body, 'parameters flow');
}

/** A sparkline of values in [0, max]. */
export function svgSparkline(values: number[], max: number, label: string): string {
  const W = 160;
  const H = 28;
  const n = Math.max(values.length - 1, 1);
  const pts = values.map((v, i) => `${((i / n) * (W - 4) + 2).toFixed(1)},${(H - 2 - (Math.min(v, max) / max) * (H - 4)).toFixed(1)}`).join(' ');
  return svg(
    W,
    H,
    [`<rect x="0" y="0" width="${W}" height="${H}" fill="#fafafa"/>`, `<polyline points="${pts}" fill="none" stroke="#1e88e5" stroke-width="1.5"/>`],
    label,
  );
}
