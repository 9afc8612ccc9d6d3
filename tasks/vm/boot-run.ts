// What one boot has learned so far, filled in as it goes — prepare (probe, accelerator,
// inputs, plan), launch (pid), the readiness stages (metrics, uname, the session) — and the
// SSH helpers its stages share.  A named shape, so each step says which fields it may rely on.
import type { Duplex } from 'node:stream';
import type { ArgSection } from '../qemu/plan.ts';
import type { MachinePin } from '../qemu/machine-type.ts';
import type { Forward, LabResolved, VmPlace } from '../spec/tree.ts';
import { FatalError } from '../util/errors.ts';
import { Guest } from '../ssh/guest.ts';
import { HostKeyMismatch, KeyRefused } from '../util/errors.ts';
import type { bannerPoller } from '../ssh/banner.ts';
import { labKeys } from '../ssh/keys.ts';
import type { BootMetrics } from '../machine/record.ts';
import type { Machine, MachineProbe, QemuRef } from '../machine/machine.ts';
import type { BootInputs } from './boot-on.ts';

export interface BootRun {
  readonly machine: Machine;
  readonly lab: LabResolved;
  readonly place: VmPlace;
  readonly ref: QemuRef;
  /** The guest's port 22 forward, when it has one: the stages after QMP need it. */
  readonly sshForward?: Forward;
  /** When QEMU was launched (ms since the epoch); 0 before. */
  started: number;
  pid: number;
  metrics: BootMetrics;
  uname: string;
  args: string[];
  // Set by the prepare step:
  plan?: ArgSection[];
  probe?: MachineProbe;
  accel?: 'kvm' | 'tcg';
  /** The machine type it runs, pinned at its first boot (qemu/machine-type.ts). */
  pin?: MachinePin;
  budgetMs?: number;
  hostKey?: string;
  kvmHint?: string;
  boot?: BootInputs;
  banners?: ReturnType<typeof bannerPoller>;
  /** The session that ran `uname -a`: cloud-init's check uses it too, then it is handed on (keepSession) or closed. */
  guest?: Guest;
  /** How often the guest's sshd has refused the lab key in this boot. */
  keyRefusals?: number;
}

/**
 * Refusals of the lab key a boot waits through: a cloud image's sshd can answer before
 * cloud-init has written the key; a kit image has it before its sshd starts, so a refusal
 * there is the answer, and the boot fails on it instead of trying for a minute.
 */
const KEY_REFUSALS = { kitImage: 2, cloudImage: 10 };

/** A stream to the guest's sshd through its forward, on the machine it runs on. */
export const dialSsh = (run: BootRun): Promise<Duplex> => run.machine.dial(run.sshForward!.host, run.sshForward!.bind);

/** An SSH session to the guest as the lab's key, checked against the pinned host key. */
export async function connectGuest(run: BootRun, sock?: Duplex, timeoutMs = 5000): Promise<Guest> {
  const f = run.sshForward!;
  const target = {
    name: run.place.vm.name,
    host: f.bind,
    port: f.host,
    user: run.place.vm.ssh.user,
    privateKeyPath: labKeys(run.lab.name).privateKeyPath,
    hostKey: run.hostKey!,
  };
  return Guest.connect(target, timeoutMs, sock ?? (await dialSsh(run))).catch((e) => {
    // A wrong host key will not become right by waiting; a refused lab key soon will not either.
    if (e instanceof HostKeyMismatch) throw new FatalError(e.message, e.hint);
    if (e instanceof KeyRefused) {
      run.keyRefusals = (run.keyRefusals ?? 0) + 1;
      const limit = run.boot?.slow ? KEY_REFUSALS.cloudImage : KEY_REFUSALS.kitImage;
      if (run.keyRefusals >= limit) throw new FatalError(`${e.message} (${run.keyRefusals} times)`, e.hint);
    }
    throw e;
  });
}
