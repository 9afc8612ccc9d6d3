import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classifyKvm, readKvmFacts, type KvmFacts } from '../../tasks/qemu/host-probe.ts';

const facts = (f: Partial<KvmFacts>): KvmFacts => ({ devKvm: 'present', cpuFlags: { vmx: false, svm: false }, modules: [], ...f });

describe('classifyKvm', () => {
  it('calls paravirtual KVM unusable even though /dev/kvm exists', () => {
    const v = classifyKvm(facts({ modules: ['kvm', 'kvm_pvm'] }));
    assert.equal(v.state, 'unusable');
    assert.match(v.reason, /kvm_pvm/);
  });
  it('needs vmx or svm', () => {
    const v = classifyKvm(facts({ modules: ['kvm', 'kvm_intel'] }));
    assert.equal(v.state, 'unusable');
    assert.match(v.reason, /vmx or svm/);
  });
  it('needs the vendor module', () => {
    const v = classifyKvm(facts({ cpuFlags: { vmx: true, svm: false }, modules: ['kvm'] }));
    assert.equal(v.state, 'unusable');
    assert.ok(v.state === 'unusable' && v.hint.includes('kvm_intel'));
  });
  it('says absent without /dev/kvm', () => assert.equal(classifyKvm(facts({ devKvm: 'absent' })).state, 'absent'));
  it('reads the nested parameter', () => {
    assert.deepEqual(classifyKvm(facts({ cpuFlags: { vmx: false, svm: true }, modules: ['kvm', 'kvm_amd'], nestedParam: '1' })), {
      state: 'usable',
      vendor: 'amd',
      nested: true,
      reason: 'kvm_amd loaded, svm present',
    });
    const intel = classifyKvm(facts({ cpuFlags: { vmx: true, svm: false }, modules: ['kvm', 'kvm_intel'], nestedParam: 'N' }));
    assert.equal(intel.state === 'usable' && intel.nested, false);
  });
  it('refuses a /dev/kvm this user cannot open', () => {
    const v = classifyKvm(facts({ devKvm: 'no-access', cpuFlags: { vmx: true, svm: false }, modules: ['kvm', 'kvm_intel'] }));
    assert.equal(v.state, 'unusable');
  });
});

describe('readKvmFacts', () => {
  it('reads flags, modules and nested from a filesystem tree', () => {
    const root = mkdtempSync(join(tmpdir(), 'gc-probe-'));
    try {
      mkdirSync(join(root, 'proc'));
      mkdirSync(join(root, 'dev'));
      writeFileSync(join(root, 'dev/kvm'), '');
      writeFileSync(join(root, 'proc/cpuinfo'), 'processor\t: 0\nflags\t\t: fpu vme svm lm\n\nprocessor\t: 1\nflags\t\t: fpu vme svm lm\n');
      mkdirSync(join(root, 'sys/module/kvm'), { recursive: true });
      mkdirSync(join(root, 'sys/module/kvm_amd/parameters'), { recursive: true });
      writeFileSync(join(root, 'sys/module/kvm_amd/parameters/nested'), '1\n');
      const f = readKvmFacts(root);
      assert.deepEqual(f, { devKvm: 'present', cpuFlags: { vmx: false, svm: true }, modules: ['kvm', 'kvm_amd'], nestedParam: '1' });
      assert.equal(classifyKvm(f).state, 'usable');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
  it('finds no /dev/kvm in an empty tree', () => {
    const root = mkdtempSync(join(tmpdir(), 'gc-probe-'));
    try {
      assert.equal(readKvmFacts(root).devKvm, 'absent');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
