// Host probes for pure tests: a real KVM host with nesting, and this kind of machine.
import type { KvmVerdict } from '../../tasks/qemu/host-probe.ts';
import type { HostFacts } from '../../tasks/spec/tree.ts';

export const KVM_USABLE: KvmVerdict = { state: 'usable', vendor: 'amd', nested: true, reason: 'kvm_amd loaded, svm present' };
export const KVM_PVM: KvmVerdict = {
  state: 'unusable',
  reason: 'kvm_pvm: paravirtual KVM (this machine is itself a VM); a normal kernel under accel=kvm never boots',
  hint: 'guests run under TCG',
};
export const BIG_HOST: HostFacts = { cpus: 16, memoryMiB: 32768 };
export const SMALL_HOST: HostFacts = { cpus: 2, memoryMiB: 24000 };
