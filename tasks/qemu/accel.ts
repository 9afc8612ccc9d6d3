// Which accelerator and CPU model a VM's QEMU gets: KVM where the probe found it usable (or the
// spec insists), else TCG; the spec's CPU model, else host pass-through under KVM and "max"
// under TCG (which exposes svm, so a child can still use KVM inside).
import type { VmResolved } from '../spec/tree.ts';
import type { KvmVerdict } from './host-probe.ts';

export interface AccelChoice {
  accel: 'kvm' | 'tcg';
  why: string;
}

/** auto → KVM only when the probe found it usable; an explicit choice is honoured as is. */
export function chooseAccel(vm: Pick<VmResolved, 'accel'>, kvm: KvmVerdict): AccelChoice {
  if (vm.accel === 'kvm')
    return { accel: 'kvm', why: kvm.state === 'usable' ? 'the spec asks for KVM' : `the spec asks for KVM although it is ${kvm.state}: ${kvm.reason}` };
  if (vm.accel === 'tcg') return { accel: 'tcg', why: 'the spec asks for TCG' };
  if (kvm.state === 'usable') return { accel: 'kvm', why: `KVM is usable (${kvm.reason})` };
  return { accel: 'tcg', why: `KVM is ${kvm.state} (${kvm.reason}); falling back to TCG` };
}

/** The CPU model: the spec's, unless it needs KVM and we run TCG. */
export function chooseCpu(vm: Pick<VmResolved, 'cpu' | 'nested'>, accel: AccelChoice['accel']): { model: string; why: string } {
  if (vm.cpu && accel === 'tcg' && /^host\b/.test(vm.cpu))
    return { model: 'max', why: `"${vm.cpu}" needs KVM; under TCG "max" emulates every feature QEMU knows, svm included, so children can still use KVM` };
  if (vm.cpu) return { model: vm.cpu, why: vm.nested ? 'the spec’s model, with virtualization flags for children' : 'the spec’s model' };
  if (accel === 'kvm') return { model: 'host', why: 'host pass-through: the guest sees the real CPU, nested virtualization included when the host allows it' };
  return { model: 'max', why: 'TCG emulates every feature QEMU knows, svm included, so children can use KVM inside this guest' };
}
