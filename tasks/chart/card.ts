// The resource card of a VM (`chart-vm`): CPU, memory, disk and network, as
// bars with the numbers behind them; a source that could not be read shows `?` and why.
import type { VmStats } from '../stats/figures.ts';
import { formatBytes, MiB } from '../spec/size.ts';
import { renderBars, type BarRow } from './bar.ts';
import { glyphs, paint, type ChartOptions } from './style.ts';
import { fit, truncate } from './text.ts';

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

export function cardRows(s: VmStats, o: Pick<ChartOptions, 'ascii'>): BarRow[] {
  const sep = glyphs(o).sep;
  const host = s.host.ok ? s.host.value : undefined;
  const guest = s.guest.ok ? s.guest.value : undefined;
  const why = (r: { ok: boolean; reason?: string }) => (r.ok ? undefined : r.reason);
  const cpu: BarRow = guest
    ? {
        label: 'CPU',
        fraction: guest.cpuBusyPercent / 100,
        detail: [plural(s.cpus, 'core'), `load ${guest.load1}`, host ? `QEMU ${host.cpuPercent}% of a host core` : undefined].filter(Boolean).join(sep),
      }
    : { label: 'CPU', reason: why(s.guest) };
  const mem: BarRow = guest
    ? {
        label: 'Memory',
        fraction: (guest.memTotalMiB - guest.memAvailableMiB) / guest.memTotalMiB,
        detail: [
          `${formatBytes((guest.memTotalMiB - guest.memAvailableMiB) * MiB)} of ${formatBytes(guest.memTotalMiB * MiB)} used`,
          host ? `QEMU RSS ${formatBytes(host.rssMiB * MiB)}` : undefined,
        ]
          .filter(Boolean)
          .join(sep),
      }
    : { label: 'Memory', reason: why(s.guest) };
  const disk: BarRow = guest
    ? {
        label: 'Disk',
        fraction: guest.rootTotalMiB ? guest.rootUsedMiB / guest.rootTotalMiB : 0,
        detail: [
          `/ ${formatBytes(guest.rootUsedMiB * MiB)} of ${formatBytes(guest.rootTotalMiB * MiB)}`,
          s.disk.ok ? `image ${formatBytes(s.disk.value.allocatedBytes ?? 0)} of ${formatBytes(s.disk.value.virtualBytes)}` : undefined,
        ]
          .filter(Boolean)
          .join(sep),
      }
    : { label: 'Disk', reason: why(s.guest) };
  return [cpu, mem, disk];
}

export function renderCard(s: VmStats, o: ChartOptions): string {
  const g = glyphs(o);
  const role = s.parent ? `nested VM in ${s.parent}` : 'guest VM';
  const head = truncate(
    [`${s.name}${s.title ? ` "${s.title}"` : ''}`, role, s.state, s.accel, s.state === 'running' ? s.figuresFrom : undefined].filter(Boolean).join(g.sep),
    o.width,
    o.ascii,
  );
  if (s.state !== 'running') return [head, ...givenLines(s, o)].join('\n');
  const net = s.network;
  const label = fit('Network', 7, o.ascii); // the widest label, as renderBars aligns them
  const netLine = net.ok
    ? net.value.open && net.value.sshRttMs !== undefined
      ? `${paint(g.dot.repeat(5), 'green', o)}  connected${g.sep}SSH ${net.value.port ?? '?'}${s.parent ? ` in ${s.parent}` : ''}${g.sep}${net.value.sshRttMs} ms`
      : `${g.dotOff.repeat(5)}  ${net.value.open ? 'port open, SSH not answering' : 'port closed'}`
    : `?  ${net.reason}`;
  // The network line is not a bar, but its label joins the bars' so all four align: render
  // it as a fifth row for the label width, keep the three real bars.
  const bars = renderBars([...cardRows(s, o), { label: 'Network', fraction: 0 }], o)
    .split('\n')
    .slice(0, 3)
    .join('\n');
  return [head, bars, o.color ? `${label}  ${netLine}` : truncate(`${label}  ${netLine}`, o.width, o.ascii)].join('\n');
}

/** Cards grouped by layer: the host's guests first, then each deeper layer. */
export function renderCards(all: VmStats[], o: ChartOptions): string {
  const depths = [...new Set(all.map((s) => s.depth))].sort();
  return depths
    .map((d) => [`${d === 1 ? 'Layer 1: on the host' : `Layer ${d}: nested`}`, ...all.filter((s) => s.depth === d).map((s) => renderCard(s, o))].join('\n\n'))
    .join('\n\n');
}

/**
 * A VM that is not running: what it is given (CPUs, memory, its disk's size and, when the disk
 * exists, how much of it is allocated) and its forwards.
 */
function givenLines(s: VmStats, o: ChartOptions): string[] {
  const g = glyphs(o);
  const disk = s.disk.ok
    ? `disk ${formatBytes(s.disk.value.virtualBytes)}, ${formatBytes(s.disk.value.allocatedBytes ?? 0)} allocated`
    : s.diskSizeBytes !== undefined
      ? `disk ${formatBytes(s.diskSizeBytes)}, ${/ENOENT|No such file/.test(s.disk.reason) ? 'not made yet' : `allocation unknown: ${s.disk.reason}`}`
      : undefined;
  const given = [plural(s.cpus, 'CPU'), formatBytes(s.memoryMiB * MiB), disk].filter(Boolean).join(g.sep);
  const arrow = g.arrow;
  const fwd = s.forwards.map((f) => `${s.parent ? '' : `${f.bind}:`}${f.host}${arrow}${f.guest}${f.proto === 'tcp' ? '' : `/${f.proto}`}`).join(' ');
  return [
    `  ${fit('Given', 9, o.ascii)}${given}`,
    ...(fwd ? [`  ${fit('Forwards', 9, o.ascii)}${fwd}${s.parent ? ` (inside ${s.parent})` : ''}`] : []),
    s.state === 'suspended'
      ? `  suspended${s.savedBytes !== undefined ? `: its saved state takes ${formatBytes(s.savedBytes)} on disk` : s.parent ? ` inside ${s.parent}` : ''}`
      : `  not running`,
  ].map((l) => truncate(l, o.width, o.ascii));
}
