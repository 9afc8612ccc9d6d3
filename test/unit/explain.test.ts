// explain: the parameters flow drawn from qemuPlan's own sections, for the seed's labs and
// the demo on a KVM host and on this kind of host; and --shell, which sh must read back
// into exactly the argv.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { qemuArgs, qemuPlan } from '../../tasks/qemu/args.ts';
import { resolveLab } from '../../tasks/spec/resolve.ts';
import { findVm, type LabResolved } from '../../tasks/spec/tree.ts';
import { readLabInput } from '../../tasks/spec/load.ts';
import { renderFlow, shellCommand, wrap } from '../../tasks/explain/render.ts';
import { golden } from '../helpers/golden.ts';
import { planInputs } from '../helpers/plan-inputs.ts';
import { BIG_HOST, KVM_PVM, KVM_USABLE } from '../helpers/probes.ts';

const inputs = planInputs;
const load = async (name: string): Promise<LabResolved> => resolveLab((await readLabInput(name)).input, BIG_HOST, name);
const HOSTS = { kvm: KVM_USABLE, pvm: KVM_PVM };
const CASES: [string, string][] = [
  ['nixos-sway', 'nixos-sway'],
  ['nixos-sway', 'debian'],
  ['nixos-test', 'nixos-test'],
  ['demo', 'l1'],
  ['demo', 'l2'],
];

describe('explain goldens', () => {
  for (const [labName, vmName] of CASES)
    for (const [hostName, kvm] of Object.entries(HOSTS))
      it(`${vmName} (${labName}) on a ${hostName} host`, async () => {
        const lab = await load(labName);
        const vm = findVm(lab, vmName)!.vm;
        const plan = qemuPlan(vm, kvm, inputs(labName, vmName));
        // The flow shows exactly the argv, section by section, each with a note.
        assert.deepEqual(
          plan.flatMap((s) => s.args),
          qemuArgs(vm, kvm, inputs(labName, vmName)),
        );
        assert.ok(plan.every((s) => s.note.length > 0));
        golden(
          `explain-${labName}-${vmName}-${hostName}`,
          renderFlow(`Parameters flow: ${vmName} (lab ${labName}); KVM ${kvm.state}: ${kvm.reason}`, plan, { width: 80, ascii: false, color: false }),
        );
      });

  it('says why TCG and why max when KVM is unusable', async () => {
    const lab = await load('demo');
    const cpu = qemuPlan(findVm(lab, 'l1')!.vm, KVM_PVM, inputs('demo', 'l1')).find((s) => s.section === 'cpu')!;
    assert.deepEqual(cpu.args, ['-cpu', 'max']);
    assert.match(cpu.note, /^KVM is unusable here \(kvm_pvm\): .*svm included, so children can use KVM/);
  });

  it('wraps notes at word boundaries within the width', () => {
    assert.deepEqual(wrap('aa bb cc dd', 5), ['aa bb', 'cc dd']);
    for (const l of renderFlow('t', [{ section: 'cpu', args: ['-cpu', 'max'], note: 'word '.repeat(40) }], { width: 40, ascii: true, color: false }).split(
      '\n',
    ))
      assert.ok(l.length <= 40, l);
  });
});

describe('explain --shell', () => {
  it('reads back, through sh, as exactly the argv (spaces, quotes, commas and all)', async () => {
    const lab = await load('demo');
    const weird = { ...findVm(lab, 'l1')!.vm, title: `it's "l1" $(reboot) \`x\` a,b` };
    for (const [vm, name] of [
      [weird, 'l1'],
      [findVm(lab, 'l2')!.vm, 'l2'],
    ] as const) {
      const argv = qemuArgs(vm, KVM_PVM, inputs('demo', name));
      const text = shellCommand('qemu-system-x86_64', argv);
      assert.equal(spawnSync('sh', ['-n'], { input: text }).status, 0, 'sh -n accepts it');
      // Run it with the binary replaced by a printer of its arguments, NUL-separated.
      const printed = execFileSync('sh', ['-c', `printf_argv() { printf '%s\\0' "$@"; }\n${text.replace(/^qemu-system-x86_64/, 'printf_argv')}`]);
      assert.deepEqual(printed.toString().split('\0').slice(0, -1), argv);
    }
  });
});
