// Why QEMU refused to start, in words a user can act on.  Unusable KVM shows two faces on
// the same kind of machine: on some days QEMU starts and the guest crawls until QMP says
// internal-error (the readiness stages catch that), on others QEMU exits at once while
// setting up the vCPU ("failed to set MSR", a kvm_buf_set_msrs assertion).  Both mean the
// same thing, so both must name KVM and hint at `accel: auto` or `tcg`.
import type { KvmVerdict } from './host-probe.ts';

export interface Refusal {
  message: string;
  hint: string;
}

/** stderr lines that only KVM's vCPU setup produces. */
const KVM_FAILURE =
  /failed to set MSR|kvm_buf_set_msrs|kvm_init_vcpu|KVM_CREATE_VCPU|kvm_arch_init|failed to initialize kvm|Could not access KVM kernel module|kvm: .*(failed|error)/i;

/**
 * The message and hint for a QEMU that exited during start.  `accel` is what the argv asked
 * for; `kvm` the verdict of the machine QEMU runs on; `vm` the name the hint should use.
 */
export function explainRefusal(stderr: string, accel: 'kvm' | 'tcg', kvm: KvmVerdict, vm: string, where?: string, folder?: string): Refusal {
  const at = where ? ` inside ${where}` : ' here';
  if (accel === 'kvm' && (kvm.state !== 'usable' || KVM_FAILURE.test(stderr))) {
    const why = kvm.state !== 'usable' ? `KVM is ${kvm.state}${at} (${kvm.reason})` : `KVM${where ? at : ''} could not run the vCPU`;
    return { message: `QEMU refused to start under accel=kvm: ${why}`, hint: `set accel: auto or tcg for ${vm}` };
  }
  // QEMU always says why it exits; silence means its words had nowhere to go (its stderr is a
  // file in the VM's folder, and QEMU exits when it cannot write its pidfile there).
  if (!stderr.trim())
    return {
      message: `QEMU refused to start${where ? at : ''} and said nothing`,
      hint: `its messages go to a file in ${folder ?? "the VM's folder"}${where ? at : ''}: is the filesystem that holds it full? (df there)`,
    };
  return { message: `QEMU refused to start${where ? at : ''}`, hint: 'see the message above; the spec or the machine is missing something QEMU needs' };
}
