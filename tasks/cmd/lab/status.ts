// `status [LAB]` and `list`: every VM, nested ones included with their parent, with its
// live state, accelerator, pid, ports, uptime and boot metrics.  `--json`: an array.  A lab
// named whose agent runs is read by the agent over its open sessions (nothing loaded here
// but the table); anything else, or an agent that does not answer, is read here.
import { resolve } from 'node:path';
import type { TaskContext } from '../../cli/registry.ts';
import { AGENT_WAIT_MS, agentLabForSpec, askStatus, plainName } from '../../agent/client.ts';
import { renderStatus } from '../../chart/status-table.ts';

export async function status(ctx: TaskContext): Promise<void> {
  const name = ctx.args[0];
  const spec = ctx.spec && ctx.spec !== '-' ? resolve(ctx.spec) : undefined;
  // The lab named, or the one --spec holds (as its agent was started for it); a spec on stdin is read here.
  const lab = ctx.spec === '-' ? undefined : spec ? agentLabForSpec(spec) : name && plainName(name) ? name : undefined;
  if (lab && (!name || name === lab)) {
    const rows = await askStatus(lab, spec, AGENT_WAIT_MS);
    if (rows) return ctx.out.result(rows, () => renderStatus(rows));
  }
  const [{ brokenLabsLine, loadLabsFor }, { labStatus }] = await Promise.all([import('../../spec/load.ts'), import('../../lab/status.ts')]);
  const all = await loadLabsFor(name, { spec: ctx.spec });
  // One bad file in specs/ is named, and the other labs still show.
  for (const b of all.broken) ctx.out.warn(`lab left out, ${brokenLabsLine([b])}`);
  const rows = (await Promise.all(all.labs.map((lab) => labStatus(lab)))).flat();
  ctx.out.result(rows, () => renderStatus(rows));
}
