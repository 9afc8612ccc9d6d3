// The status table (`status`, `up`, `resume`): one row per VM, nested ones indented under
// their parent, with the reasons and libvirt's own word below it.
import type { VmStatus } from '../vm/status.ts';
import { chartOptions, glyphs, type ChartOptions } from './style.ts';
import { renderTable, type Column } from './table.ts';

export const fmtUptime = (s?: number) =>
  s === undefined ? '-' : s < 90 ? `${s.toFixed(0)}s` : s < 5400 ? `${(s / 60).toFixed(0)}m` : `${(s / 3600).toFixed(1)}h`;

export function renderStatus(rows: VmStatus[], o: ChartOptions = chartOptions()): string {
  const arrow = glyphs(o).arrow;
  const columns: Column[] = [
    { header: 'LAB' },
    { header: 'VM' },
    { header: 'PARENT' },
    { header: 'STATE' },
    { header: 'ACCEL' },
    { header: 'PID', align: 'right' },
    { header: 'PORTS' },
    { header: 'UPTIME', align: 'right' },
    { header: 'SSH AFTER', align: 'right' },
  ];
  const table = renderTable(
    columns,
    rows.map((r) => [
      r.lab,
      `${'  '.repeat(r.depth - 1)}${r.name}`,
      r.parent ?? '(host)',
      r.state,
      r.accel ?? '-',
      r.pid ? String(r.pid) : '-',
      r.forwards.map((f) => `${r.parent ? '' : `${f.bind}:`}${f.host}${arrow}${f.guest}`).join(' ') || '-',
      r.state === 'running' ? fmtUptime(r.uptimeS) : '-',
      r.metrics?.sshS !== undefined ? `${r.metrics.sshS}s` : '-',
    ]),
    o,
  );
  const notes = rows.flatMap((r) => [
    ...(r.reason && r.state !== 'running' ? [`  ${r.name}: ${r.reason}`] : []),
    // libvirt's own word, as virsh says it: it knows why a domain ended (destroyed, crashed, shutdown).
    ...(r.domstate ? [`  ${r.name}: libvirt says ${r.domstate}`] : []),
  ]);
  return [table, ...notes].join('\n');
}
