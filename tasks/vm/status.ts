// A VM's state right now — running, booting, stopped or crashed — at any layer: the host's
// record of it (state.json), one sample from the machine its QEMU runs on, and QEMU's own
// word over QMP.  The classification is pure, so every case is unit-tested; the reading is
// the same for a VM of the host and one inside a parent.
import { kitPaths } from '../util/paths.ts';
import type { Forward, LabResolved, VmPlace } from '../spec/tree.ts';
import { readState, type BootMetrics, type VmState } from '../machine/record.ts';
import { withQmp, type Machine, type QemuSample } from '../machine/machine.ts';
import type { QmpStatus } from '../qemu/qmp.ts';
import { formatBytes } from '../spec/size.ts';

export interface StatusFacts {
  /** The host's record of the VM. */
  record?: VmState;
  /** What its machine says; undefined when the machine could not be asked (its parent is down). */
  sample?: QemuSample;
  /** QMP's status of a live QEMU, or why QMP did not answer. */
  qmp?: { status: string } | { error: string };
  /** "inside l1" for a nested VM; '' on this host. */
  where: string;
  /** The parent's state (or "not reachable"), when the machine could not be asked. */
  parentState?: string;
}

export function classifyStatus(base: Pick<VmStatus, 'lab' | 'name' | 'parent' | 'depth'>, f: StatusFacts): VmStatus {
  const s = f.record;
  const common = { ...base, accel: s?.accel, forwards: s?.forwards ?? [], metrics: s?.metrics };
  const claimed = s?.phase === 'running' || s?.phase === 'booting';
  const stopped = (): VmStatus =>
    s?.phase === 'suspended'
      ? {
          ...common,
          state: 'suspended',
          reason: s.saved
            ? `${s.saved.managed ? 'in its machine’s managed save' : s.saved.devices ? 'its devices and RAM saved in its folder' : `saved as ${s.saved.snapshot}`} at ${s.saved.at}${s.saved.bytes !== undefined ? `, ${formatBytes(s.saved.bytes)} on disk` : ''}`
            : `inside ${base.parent}, saved with it`,
          ...(s.saved?.bytes !== undefined ? { savedBytes: s.saved.bytes } : {}),
        }
      : { ...common, state: 'stopped', reason: s?.phase === 'failed' ? s.failure : undefined };
  if (!f.sample) {
    if (claimed) return { ...common, state: 'crashed', reason: `its parent ${base.parent} is ${f.parentState ?? 'not running'}` };
    return stopped();
  }
  const { sample } = f;
  const pid = sample.pid ?? s?.pid;
  if (sample.alive) {
    const live = { ...common, pid, uptimeS: sample.uptimeS };
    if (f.qmp && 'error' in f.qmp) {
      if (s?.phase === 'booting') return { ...live, state: 'booting' };
      return { ...live, state: 'running', reason: `QMP did not answer: ${f.qmp.error}` };
    }
    const qmpStatus = f.qmp?.status;
    if (qmpStatus && DEAD_QMP.has(qmpStatus)) return { ...common, state: 'crashed', pid, qmpStatus, reason: `QEMU reports ${qmpStatus}` };
    return { ...live, state: s?.phase === 'booting' ? 'booting' : 'running', qmpStatus };
  }
  const at = f.where ? ` ${f.where}` : '';
  if (claimed)
    return {
      ...common,
      state: 'crashed',
      reason: pid ? `its QEMU (pid ${pid}) is gone${at} but was never stopped` : `state says running but there is no QEMU${at}`,
    };
  if (sample.pidfile) return { ...common, state: 'crashed', reason: `stale pidfile (pid ${pid ?? '?'})${at} without its QEMU` };
  return stopped();
}

/** The VM's state, read on its machine (undefined: its parent cannot be reached, say why with `parentState`). */
export async function vmStatus(machine: Machine | undefined, lab: LabResolved, place: VmPlace, parentState?: string): Promise<VmStatus> {
  const record = readState(kitPaths(lab.name, place.vm.name).vm);
  const base = { lab: lab.name, name: place.vm.name, parent: place.parent?.name, depth: place.depth };
  const where = machine?.at.trim() ?? '';
  if (!machine) return classifyStatus(base, { record, where, parentState });
  const ref = machine.ref(lab, place, record);
  // Both at once (a nested VM's are two round trips into its parent): QMP's word counts only
  // when the sample finds the VM's QEMU alive.
  const [sample, qmp] = await Promise.all([
    machine.sample(ref, { fallbackPid: record?.pid }),
    withQmp(machine, ref, 1500, (c) => c.execute<QmpStatus>('query-status', undefined, 1500)).then(
      (s) => ({ status: s.status }),
      (err: Error) => ({ error: err.message }),
    ),
  ]);
  return classifyStatus(base, { record, sample, qmp: sample.alive ? qmp : undefined, where });
}

export type LiveState = 'running' | 'booting' | 'stopped' | 'crashed' | 'suspended';

export interface VmStatus {
  lab: string;
  name: string;
  parent?: string;
  depth: number;
  state: LiveState;
  reason?: string;
  pid?: number;
  accel?: string;
  qmpStatus?: string;
  /** libvirt's word on the domain it runs as (`domstate --reason`), for a VM on libvirt. */
  domstate?: string;
  forwards: Forward[];
  uptimeS?: number;
  metrics?: BootMetrics;
  /** A suspended top-level VM's saved state, bytes on disk. */
  savedBytes?: number;
}

/**
 * QMP states that mean the guest is dead even though QEMU still runs.  io-error: paused on a
 * disk write that failed (most often a full filesystem under the VM's disk); it stays so.
 */
export const DEAD_QMP = new Set(['internal-error', 'guest-panicked', 'shutdown', 'io-error']);
