// A top-level VM's running children paused for its live save through its port shell
// (console/port-shell.ts): each child's QMP `stop` from inside the parent, no SSH handshake
// into a parent under TCG (~0.5 s).  Undefined where that way cannot be taken (no port shell,
// a child without a QMP port on record, a shell that does not answer): the caller pauses them
// over SSH.  See withChildrenPaused (many.ts) for why they are paused at all.
import { PORT_SHELL_ANSWER_MS, PortShell } from '../console/port-shell.ts';
import { childQmpExchange, qmpStatuses } from '../console/child-qmp.ts';
import { readState } from '../machine/record.ts';
import type { Machine, QemuRef } from '../machine/machine.ts';
import type { LabResolved, VmPlace } from '../spec/tree.ts';
import { kitPaths } from '../util/paths.ts';

/** Pauses them; what lets the ones it paused go on again (while the parent still runs). */
export async function pauseChildrenByPort(lab: LabResolved, place: VmPlace, machine: Machine, ref: QemuRef): Promise<(() => Promise<void>) | undefined> {
  if (place.parent) return undefined;
  const running = place.vm.children.map((c) => readState(kitPaths(lab.name, c.name).vm)).filter((r) => r?.phase === 'running');
  if (running.some((r) => !r!.qmpPort)) return undefined;
  const shell = PortShell.ofHostVm(machine, ref.paths);
  if (!shell) return undefined;
  const paused: number[] = [];
  const goOn = async () => {
    try {
      // A suspend's save ended the parent: nothing left to go on, and its shell would not answer.
      if (!(await machine.sample(ref)).alive) return;
      for (const port of paused) await shell.run(childQmpExchange(port, ['cont']), PORT_SHELL_ANSWER_MS).catch(() => undefined);
    } finally {
      shell.close();
    }
  };
  try {
    for (const r of running) {
      const out = (await shell.run(childQmpExchange(r!.qmpPort!, ['query-status', 'stop', 'query-status']), PORT_SHELL_ANSWER_MS)).out;
      const [before, after] = qmpStatuses(out);
      if (after === undefined) throw new Error(`no QMP answer from ${r!.vm}`);
      if (before === 'running') paused.push(r!.qmpPort!);
    }
    return goOn;
  } catch {
    await goOn();
    return undefined;
  }
}
