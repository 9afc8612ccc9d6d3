// `demo`: the README's main command.  Until the kit can boot guests (image and boot tasks),
// it shows the embedded demo lab, what this host would run it with, and what is missing.
import type { TaskContext } from './kit/registry.ts';
import { loadLab } from './kit/load.ts';
import { probeHost } from './kit/host-probe.ts';
import { chooseAccel, chooseCpu } from './kit/qemu-args.ts';
import { labTree } from './kit/describe.ts';
import { renderTree } from './chart/tree.ts';

export async function run(ctx: TaskContext): Promise<void> {
  const lab = await loadLab('demo', { spec: ctx.spec });
  const probe = await probeHost();
  const l1 = lab.vms[0]!;
  const accel = chooseAccel(l1, probe.kvm);
  const cpu = chooseCpu(l1, accel.accel);
  const missing = ['the `image` task (tiny guest built from Debian packages)', 'the `boot` task (launch, staged readiness, SSH)', 'the `up` task (nesting L2 inside L1)'];
  const report = { lab, host: { kvm: probe.kvm, qemu: probe.qemu }, plan: { vm: l1.name, accel, cpu }, missing };
  ctx.out.result(report, () =>
    [
      `lab ${lab.name} — ${lab.description}`,
      renderTree([labTree(lab)]),
      '',
      `${l1.name} would run with accel=${accel.accel}: ${accel.why}`,
      `${l1.name} CPU model ${cpu.model}: ${cpu.why}`,
      `qemu: ${probe.qemu.version ? `${probe.qemu.version} (${probe.qemu.path})` : probe.qemu.error}`,
      '',
      'Not yet in this version, so the demo stops here:',
      ...missing.map((m) => `  - ${m}`),
    ].join('\n'),
  );
}
