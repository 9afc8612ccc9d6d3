// Snapshots for people: a table, and a tree per lab (VM → its snapshots).
import { chartOptions, type ChartOptions } from '../chart/style.ts';
import { renderTable, type Column } from '../chart/table.ts';
import { renderTree, type TreeNode } from '../chart/tree.ts';
import { formatBytes } from '../spec/size.ts';
import { fmtUptime } from '../chart/status-table.ts';
import type { SnapshotInfo } from './ops.ts';

const taken = (s: SnapshotInfo) => s.stamp?.date ?? `${s.date.slice(0, 16).replace('T', ' ')} utc`;
const vmState = (s: SnapshotInfo) => (s.vmStateSize ? formatBytes(s.vmStateSize) : 'disk only');

export function renderSnapshotTable(list: SnapshotInfo[], o: ChartOptions = chartOptions()): string {
  if (!list.length) return 'no snapshots';
  const columns: Column[] = [
    { header: 'VM' },
    { header: 'NAME' },
    { header: 'TAKEN' },
    { header: 'VM STATE', align: 'right' },
    { header: 'DISK', align: 'right' },
    { header: 'AGE', align: 'right' },
  ];
  const rows = list.map((s) => [s.vm, s.complete ? s.name : `${s.name} (partial)`, taken(s), vmState(s), formatBytes(s.diskSize), fmtUptime(s.ageS)]);
  return renderTable(columns, rows, o);
}

/** lab → VM (nested under its parent) → snapshot, with what each holds. */
export function renderSnapshotTree(
  lab: string,
  vms: { name: string; parent?: string; note?: string }[],
  list: SnapshotInfo[],
  o: ChartOptions = chartOptions(),
): string {
  const nodes = new Map<string, TreeNode>();
  const root: TreeNode = { label: `lab ${lab}`, children: [] };
  for (const vm of vms) {
    const snaps = list.filter((s) => s.vm === vm.name);
    const node: TreeNode = {
      label: `${vm.name}${vm.note ? ` (${vm.note})` : ` — ${snaps.length} snapshot${snaps.length === 1 ? '' : 's'}`}`,
      children: snaps.map((s) => ({ label: `${s.name}  ${taken(s)}, ${vmState(s)}` })),
    };
    nodes.set(vm.name, node);
    (vm.parent ? nodes.get(vm.parent)! : root).children!.push(node);
  }
  return renderTree([root], o);
}
