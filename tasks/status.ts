// `status [LAB]` and `list`: every VM, nested ones included with their parent, with its
// live state, accelerator, pid, ports, uptime and boot metrics.  `--json`: an array.
import type { TaskContext } from './kit/registry.ts';
import { listLabs, loadLab } from './kit/load.ts';
import { kitPaths } from './kit/paths.ts';
import { findVm, walkVms, type LabResolved } from './kit/resolve.ts';
import { liveStatus, type VmStatus } from './kit/vm-state.ts';
import { connectPlace } from './kit/target.ts';
import { nestedStatus } from './kit/nested-status.ts';
import type { Guest } from './kit/guest.ts';
import { chartOptions, glyphs, type ChartOptions } from './chart/style.ts';
import { renderTable, type Column } from './chart/table.ts';

/** Parents first, so a nested VM is read inside its parent over one connection per parent. */
export async function labStatus(lab: LabResolved): Promise<VmStatus[]> {
  const rows: VmStatus[] = [];
  const byName = new Map<string, VmStatus>();
  const sessions = new Map<string, Guest | undefined>();
  try {
    for (const place of walkVms(lab.vms)) {
      const { vm, parent, depth } = place;
      let row: VmStatus;
      if (!parent) row = await liveStatus(kitPaths(lab.name, vm.name).vm, { lab: lab.name, name: vm.name, depth });
      else {
        const ps = byName.get(parent.name)!;
        if (ps.state === 'running' && !sessions.has(parent.name)) sessions.set(parent.name, await connectPlace(lab, findVm(lab, parent.name)!).catch(() => undefined));
        const session = ps.state === 'running' ? sessions.get(parent.name) : undefined;
        row = await nestedStatus(lab, place, session, ps.state);
      }
      byName.set(vm.name, row);
      rows.push(row);
    }
  } finally {
    for (const s of sessions.values()) s?.close();
  }
  return rows;
}

export const fmtUptime = (s?: number) => (s === undefined ? '-' : s < 90 ? `${s.toFixed(0)}s` : s < 5400 ? `${(s / 60).toFixed(0)}m` : `${(s / 3600).toFixed(1)}h`);

export function renderStatus(rows: VmStatus[], o: ChartOptions = chartOptions()): string {
  const arrow = glyphs(o).arrow;
  const columns: Column[] = [{ header: 'LAB' }, { header: 'VM' }, { header: 'PARENT' }, { header: 'STATE' }, { header: 'ACCEL' }, { header: 'PID', align: 'right' }, { header: 'PORTS' }, { header: 'UPTIME', align: 'right' }, { header: 'SSH AFTER', align: 'right' }];
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
  const notes = rows.filter((r) => r.reason && r.state !== 'running').map((r) => `  ${r.name}: ${r.reason}`);
  return [table, ...notes].join('\n');
}

export async function status(ctx: TaskContext): Promise<void> {
  const labs = ctx.args[0] || ctx.spec ? [await loadLab(ctx.args[0], { spec: ctx.spec })] : await Promise.all(listLabs().map((l) => loadLab(l)));
  const rows = (await Promise.all(labs.map(labStatus))).flat();
  ctx.out.result(rows, () => renderStatus(rows));
}
