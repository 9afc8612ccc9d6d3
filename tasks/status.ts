// `status [LAB]` and `list`: every VM with its live state, accelerator, pid, ports, uptime
// and boot metrics.  `--json` gives an array of objects.
import type { TaskContext } from './kit/registry.ts';
import { listLabs, loadLab } from './kit/load.ts';
import { kitPaths } from './kit/paths.ts';
import { walkVms, type LabResolved } from './kit/resolve.ts';
import { liveStatus, type VmStatus } from './kit/vm-state.ts';

export async function labStatus(lab: LabResolved): Promise<VmStatus[]> {
  return Promise.all(
    [...walkVms(lab.vms)].map(({ vm, parent, depth }) => liveStatus(kitPaths(lab.name, vm.name).vm, { lab: lab.name, name: vm.name, parent: parent?.name, depth })),
  );
}

const fmtUptime = (s?: number) => (s === undefined ? '-' : s < 90 ? `${s.toFixed(0)}s` : s < 5400 ? `${(s / 60).toFixed(0)}m` : `${(s / 3600).toFixed(1)}h`);

export function renderStatus(rows: VmStatus[]): string {
  const table = [
    ['LAB', 'VM', 'STATE', 'ACCEL', 'PID', 'PORTS', 'UPTIME', 'SSH AFTER'],
    ...rows.map((r) => [
      r.lab,
      `${'  '.repeat(r.depth - 1)}${r.name}`,
      r.state,
      r.accel ?? '-',
      r.pid ? String(r.pid) : '-',
      r.forwards.map((f) => `${f.bind}:${f.host}→${f.guest}`).join(' ') || '-',
      r.state === 'running' ? fmtUptime(r.uptimeS) : '-',
      r.metrics?.sshS !== undefined ? `${r.metrics.sshS}s` : '-',
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  const lines = table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  const notes = rows.filter((r) => r.reason && r.state !== 'running').map((r) => `  ${r.name}: ${r.reason}`);
  return [...lines, ...notes].join('\n');
}

export async function status(ctx: TaskContext): Promise<void> {
  const labs = ctx.args[0] || ctx.spec ? [await loadLab(ctx.args[0], { spec: ctx.spec })] : await Promise.all(listLabs().map((l) => loadLab(l)));
  const rows = (await Promise.all(labs.map(labStatus))).flat();
  ctx.out.result(rows, () => renderStatus(rows));
}
