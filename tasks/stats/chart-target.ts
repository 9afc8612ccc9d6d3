// What `chart-vm NAME` charts, as the CLI and the lab agent both decide it: a lab's name charts
// the lab — unless a VM has that name too (nixos-test is both a lab and its only VM: then the
// VM) — anything else is a VM's name; no name, the lab of --spec.
import { listLabs, loadLab, loadVm } from '../spec/load.ts';
import type { LabResolved } from '../spec/tree.ts';

export interface ChartTarget {
  lab: LabResolved;
  kind: 'lab' | 'vm';
  /** The VM charted, for kind 'vm'. */
  only?: string[];
}

export async function chartTarget(name: string | undefined, src: { spec?: string; lab?: string } = {}): Promise<ChartTarget> {
  if (!name) return { lab: await loadLab(undefined, { spec: src.spec }), kind: 'lab' };
  const alsoVm = () =>
    loadVm(name).then(
      () => true,
      () => false,
    );
  if (!src.lab && !src.spec && listLabs().includes(name) && !(await alsoVm())) return { lab: await loadLab(name), kind: 'lab' };
  const { lab, place } = await loadVm(name, { spec: src.spec, lab: src.lab });
  return { lab, kind: 'vm', only: [place.vm.name] };
}
