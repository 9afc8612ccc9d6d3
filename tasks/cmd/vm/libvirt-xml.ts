// `libvirt-xml VM`: the libvirt domain a top-level VM would be, from explain's plan (the
// boot's own inputs in a dry run), for people who `virsh define` it themselves.  `--json`:
// {lab, vm, domain, type, xml}.
import type { TaskContext } from '../../cli/registry.ts';
import { UsageError } from '../../util/errors.ts';
import { loadVm } from '../../spec/load.ts';
import { domainName, domainType, domainXml } from '../../machine/libvirt/xml.ts';
import { explainVm } from '../../explain/plan.ts';
import { kitPool } from '../../machine/libvirt/pool.ts';

export async function run(ctx: TaskContext): Promise<void> {
  const { lab, place } = await loadVm(ctx.args[0]!, { spec: ctx.spec, lab: ctx.opts.lab as string | undefined });
  if (place.parent)
    throw new UsageError(
      `${place.vm.name} runs inside ${place.parent.name}: only a lab's top-level VMs become libvirt domains; a child nests inside its parent as before`,
    );
  const e = await explainVm(lab, place);
  // libvirt wants the emulator's absolute path; Debian's when the probe found none.
  const emulator = e.binary.startsWith('/') ? e.binary : '/usr/bin/qemu-system-x86_64';
  const xml = domainXml(e.plan, { lab: lab.name, emulator, pool: kitPool() });
  ctx.out.result({ lab: lab.name, vm: e.vm, domain: domainName(lab.name, e.vm), type: domainType(e.plan), xml }, xml.trimEnd());
}
