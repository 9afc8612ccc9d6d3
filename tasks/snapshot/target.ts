// `snapshot X`, `restore X NAME`…: X is a lab (every VM of it) or one VM.
import type { TaskContext } from '../cli/registry.ts';
import { listLabs, loadLab, loadVm } from '../spec/load.ts';
import { walkVms, type LabResolved, type VmPlace } from '../spec/tree.ts';
import { UsageError } from '../util/errors.ts';

export interface SnapshotTarget {
  lab: LabResolved;
  /** Parents before children. */
  places: VmPlace[];
  wholeLab: boolean;
}

export async function snapshotTarget(ctx: TaskContext, name: string | undefined): Promise<SnapshotTarget> {
  if (!name) {
    if (!ctx.spec) throw new UsageError('name a VM or a lab', 'e.g. npx tsx tasks.ts snapshots demo');
    const lab = await loadLab(undefined, { spec: ctx.spec });
    return { lab, places: [...walkVms(lab.vms)], wholeLab: true };
  }
  const labOpt = ctx.opts.lab as string | undefined;
  const isLab = ctx.spec ? (await loadLab(undefined, { spec: ctx.spec })).name === name : !labOpt && listLabs().includes(name);
  if (isLab) {
    const lab = await loadLab(ctx.spec ? undefined : name, { spec: ctx.spec });
    return { lab, places: [...walkVms(lab.vms)], wholeLab: true };
  }
  const { lab, place } = await loadVm(name, { spec: ctx.spec, lab: labOpt });
  return { lab, places: [place], wholeLab: false };
}
