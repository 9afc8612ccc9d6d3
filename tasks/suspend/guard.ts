// The one guard every task that would leave a suspended lab's saved state behind goes through:
// say what would be lost, ask (or refuse without --yes), then take the suspended marks off.
import type { TaskContext } from '../cli/registry.ts';
import type { LabResolved } from '../spec/tree.ts';
import { confirmLoss } from '../cli/confirm.ts';
import { releaseSaved, savedLoss, topOf, type Released } from './saved.ts';

/**
 * Before `what` on `lab` (touching the VMs named in `vms`, all of them when absent): nothing
 * when no saved state is in the way; else a yes first.  `remove`: the saved snapshots go
 * too (each said), else they stay as ordinary snapshots.
 */
export async function releaseSavedFor(ctx: TaskContext, lab: LabResolved, what: string, opts: { vms?: string[]; remove: boolean }): Promise<Released[]> {
  const loss = savedLoss(lab, what, opts.vms && new Set(opts.vms.map((n) => topOf(lab, n)!)));
  if (!loss) return [];
  await confirmLoss(ctx, loss.loss, loss.hint);
  const released = await releaseSaved(lab, opts.remove);
  for (const gone of released) if (gone.discarded) ctx.out.info(`discarded the saved state of ${gone.vm}: ${gone.snapshot}`);
  return released;
}
