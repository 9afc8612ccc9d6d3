import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { explainRefusal } from '../../tasks/qemu/refusal.ts';
import type { KvmVerdict } from '../../tasks/qemu/host-probe.ts';

const pvm: KvmVerdict = { state: 'unusable', reason: 'kvm_pvm: paravirtual KVM', hint: 'tcg' };
const usable: KvmVerdict = { state: 'usable', vendor: 'amd', nested: true, reason: 'kvm_amd loaded' };
const msr =
  "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nqemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.";

describe('explainRefusal', () => {
  it('names KVM and hints at auto/tcg when KVM is unusable and accel=kvm was forced', () => {
    const r = explainRefusal(msr, 'kvm', pvm, 'k1');
    assert.equal(r.message, 'QEMU refused to start under accel=kvm: KVM is unusable here (kvm_pvm: paravirtual KVM)');
    assert.equal(r.hint, 'set accel: auto or tcg for k1');
  });
  it('blames KVM from the stderr alone when the probe thought it usable', () => {
    const r = explainRefusal(msr, 'kvm', usable, 'l2', 'l1');
    assert.equal(r.message, 'QEMU refused to start under accel=kvm: KVM inside l1 could not run the vCPU');
    assert.equal(r.hint, 'set accel: auto or tcg for l2');
  });
  it('does not blame KVM for an ordinary refusal under TCG or usable KVM', () => {
    const bad = "qemu-system-x86_64: -drive file=x.qcow2: Could not open 'x.qcow2': No such file or directory";
    assert.equal(explainRefusal(bad, 'tcg', pvm, 'k1').message, 'QEMU refused to start');
    assert.equal(explainRefusal(bad, 'kvm', usable, 'k1').message, 'QEMU refused to start');
    assert.match(explainRefusal(bad, 'kvm', usable, 'k1', 'l1').message, /inside l1$/);
  });
  it('a QEMU that exits saying nothing: asks whether the folder its messages go to is full', () => {
    const r = explainRefusal('\n', 'tcg', pvm, 'k1', undefined, '/state/lab/k1');
    assert.equal(r.message, 'QEMU refused to start and said nothing');
    assert.equal(r.hint, 'its messages go to a file in /state/lab/k1: is the filesystem that holds it full? (df there)');
    assert.match(explainRefusal('', 'kvm', usable, 'k2', 'l1', '/s/k2').hint, /in \/s\/k2 inside l1: is the filesystem/);
  });
});
