// `status [LAB]` and `list`: every VM, nested ones included with their parent, with its
// live state, accelerator, pid, ports, uptime and boot metrics.  `--json`: an array.
import type { TaskContext } from './kit/registry.ts';
import { brokenLabsLine, loadLabsFor } from './kit/load.ts';
import { walkVms, type LabResolved } from './kit/resolve.ts';
import type { VmStatus } from './kit/vm-state.ts';
import { vmStatus } from './kit/vm-status.ts';
import { machineOrNone } from './kit/machine-for.ts';
import { SessionPool } from './kit/session-pool.ts';
import { chartOptions, glyphs, type ChartOptions } from './chart/style.ts';
import { renderTable, type Column } from './chart/table.ts';

/** Parents first, so a nested VM is read inside its running parent, over one session per parent. */
export async function labStatus(lab: LabResolved): Promise<VmStatus[]> {
  const rows: VmStatus[] = [];
  const byName = new Map<string, VmStatus>();
  const sessions = new SessionPool();
  try {
    for (const place of walkVms(lab.vms)) {
      const parentState = place.parent ? byName.get(place.parent.name)!.state : undefined;
      const machine = parentState === undefined || parentState === 'running' ? await machineOrNone(lab, place, (p) => sessions.get(lab, p, 10_000)) : undefined;
      const row = await vmStatus(machine, lab, place, parentState);
      // libvirt's own word, for the status shown only: vmStatus runs before every exec and boot.
      const domstate = machine?.domainState && (await machine.domainState(machine.ref(lab, place)));
      if (domstate) row.domstate = domstate;
      byName.set(place.vm.name, row);
      rows.push(row);
    }
  } finally {
    sessions.closeAll();
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
  const notes = rows.flatMap((r) => [
    ...(r.reason && r.state !== 'running' ? [`  ${r.name}: ${r.reason}`] : []),
    // libvirt's own word, as virsh says it: it knows why a domain ended (destroyed, crashed, shutdown).
    ...(r.domstate ? [`  ${r.name}: libvirt says ${r.domstate}`] : []),
  ]);
  return [table, ...notes].join('\n');
}

export async function status(ctx: TaskContext): Promise<void> {
  const all = await loadLabsFor(ctx.args[0], { spec: ctx.spec });
  // One bad file in specs/ is named, and the other labs still show.
  for (const b of all.broken) ctx.out.warn(`lab left out, ${brokenLabsLine([b])}`);
  const labs = all.labs;
  const rows = (await Promise.all(labs.map(labStatus))).flat();
  ctx.out.result(rows, () => renderStatus(rows));
}
