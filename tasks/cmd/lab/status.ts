// `status [LAB]` and `list`: every VM, nested ones included with their parent, with its
// live state, accelerator, pid, ports, uptime and boot metrics.  `--json`: an array.
import type { TaskContext } from '../../cli/registry.ts';
import { brokenLabsLine, loadLabsFor } from '../../spec/load.ts';
import { labStatus } from '../../lab/status.ts';
import { renderStatus } from '../../chart/status-table.ts';

export async function status(ctx: TaskContext): Promise<void> {
  const all = await loadLabsFor(ctx.args[0], { spec: ctx.spec });
  // One bad file in specs/ is named, and the other labs still show.
  for (const b of all.broken) ctx.out.warn(`lab left out, ${brokenLabsLine([b])}`);
  const labs = all.labs;
  const rows = (await Promise.all(labs.map(labStatus))).flat();
  ctx.out.result(rows, () => renderStatus(rows));
}
