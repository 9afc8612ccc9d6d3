// `explain VM`: the QEMU command line a boot would run, section by section with what each
// part does and why this value (the notes live beside the code that emits each section).
// `--json`: [{section, args, note, facts}]; `--shell`: a command line to paste into sh.
import type { TaskContext } from '../../cli/registry.ts';
import { UsageError } from '../../util/errors.ts';
import { loadVm } from '../../spec/load.ts';
import { explainVm } from '../../explain/plan.ts';
import { renderFlow, shellCommand } from '../../explain/render.ts';
import { options } from '../../chart/cli-options.ts';
import { libvirtOf } from '../../spec/tree.ts';
import { domainName, domainParts, partLines } from '../../machine/libvirt/xml.ts';
import { kitPool } from '../../machine/libvirt/pool.ts';

export async function run(ctx: TaskContext): Promise<void> {
  const { lab, place } = await loadVm(ctx.args[0]!, { spec: ctx.spec, lab: ctx.opts.lab as string | undefined });
  if (ctx.opts.shell === true && ctx.json) throw new UsageError('--shell and --json both want stdout; pick one');
  const e = await explainVm(lab, place);
  if (ctx.opts.shell === true) {
    ctx.out.result(
      e,
      shellCommand(
        e.binary,
        e.plan.flatMap((s) => s.args),
        e.env,
      ),
    );
    return;
  }
  // A VM on libvirt: each section also says what it becomes in the domain (libvirt-xml's, the same plan).
  const libvirt = libvirtOf(lab, place);
  const domain = libvirt ? domainParts(e.plan, { lab: lab.name, emulator: e.binary, pool: kitPool() }).map(partLines) : undefined;
  const where = libvirt ? `as libvirt domain ${domainName(lab.name, e.vm)} on ${libvirt.uri}` : e.where;
  const title = `Parameters flow: ${e.vm} (lab ${e.lab}) — QEMU ${where}; KVM ${e.kvm.state}: ${e.kvm.reason}`;
  const plan = domain ? e.plan.map((s, i) => ({ ...s, domain: domain[i] })) : e.plan;
  ctx.out.result(plan, () => renderFlow(title, e.plan, options(ctx), domain));
}
