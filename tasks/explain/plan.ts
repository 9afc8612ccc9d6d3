// tasks/explain/: the parameter flow — what a boot would run and why, without booting; shared
// by `explain` and `doc`.
//
// The inputs a boot gives qemuArgs, gathered without booting anything: the host probe (or,
// for a nested VM, its parent's), the VM's paths on its machine, the boot's own inputs in a
// dry run, the lab key.  So `explain` shows the argv a boot would run, not a look-alike.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KvmVerdict } from '../qemu/host-probe.ts';
import { probeHost, type HostProbe } from '../qemu/host-probe.ts';
import { kitPaths, stateRoot } from '../util/paths.ts';
import { qemuPlan, type ArgInputs } from '../qemu/args.ts';
import { chooseCpu } from '../qemu/accel.ts';
import { moduleEnv } from '../qemu/which.ts';
import { pinnedType } from '../qemu/machine-type.ts';
import type { ArgSection } from '../qemu/plan.ts';
import { findVm, type LabResolved, type VmPlace } from '../spec/tree.ts';
import { plannedMachine } from '../machine/machine-for.ts';
import { guestMachine } from '../machine/guest.ts';
import { readState } from '../machine/record.ts';
import { connectPlace } from '../vm/target.ts';
import { prepareInputs } from '../vm/inputs.ts';

export interface Explained {
  vm: string;
  lab: string;
  depth: number;
  /** Where its QEMU runs, as its machine says it: "on this host", "inside l1", "on libvirt qemu+ssh://…". */
  where: string;
  binary: string;
  /** The environment its QEMU runs with (a QEMU unpacked into a folder names its modules). */
  env?: Record<string, string>;
  kvm: KvmVerdict;
  /** Where the KVM verdict comes from: this host, a probe inside the parent, or what the parent's CPU model implies. */
  kvmSource: 'host' | 'parent-probe' | 'parent-cpu';
  plan: ArgSection[];
}

/** The lab's public key when it exists; explain never makes keys. */
function labPublicKey(lab: string): string | undefined {
  const file = join(stateRoot(), lab, 'ssh', 'id_ed25519.pub');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/** A stopped parent cannot be probed: its CPU model says whether children will see svm/vmx. */
function impliedByParent(parent: VmPlace, hostKvm: KvmVerdict): KvmVerdict {
  const accel = parent.vm.accel === 'tcg' || (parent.vm.accel === 'auto' && hostKvm.state !== 'usable') ? 'tcg' : 'kvm';
  const cpu = chooseCpu(parent.vm, accel).model;
  if (cpu === 'max' || /\+(svm|vmx)/.test(cpu) || (cpu.startsWith('host') && hostKvm.state === 'usable' && hostKvm.nested))
    return {
      state: 'usable',
      vendor: cpu === 'max' || cpu.includes('svm') ? 'amd' : hostKvm.state === 'usable' ? hostKvm.vendor : 'intel',
      nested: false,
      reason: `expected: ${parent.vm.name} runs -cpu ${cpu}, which exposes virtualization (probed for real when it boots)`,
    };
  return {
    state: 'absent',
    reason: `expected: ${parent.vm.name} runs -cpu ${cpu}, which exposes no virtualization`,
    hint: 'give the parent -cpu max (TCG) or host with nesting (KVM)',
  };
}

/**
 * `host`: a probe already made (doc explains every VM of a lab with one).  The inputs are the
 * boot's own (tasks/vm/inputs.ts) in a dry run: nothing is made, copied or started.
 */
export async function explainVm(lab: LabResolved, place: VmPlace, opts: { probeParents?: boolean; host?: HostProbe } = {}): Promise<Explained> {
  // The machine first: it settles which QEMU the lab runs (host.qemu), which the probe asks.
  const machine = await plannedMachine(lab, place);
  const host = opts.host ?? (await probeHost());
  const vm = place.vm;
  const authorizedKey = labPublicKey(lab.name);
  const parent = place.parent ? findVm(lab, place.parent.name)! : undefined;
  const record = readState(kitPaths(lab.name, vm.name).vm);
  const ref = machine.ref(lab, place, record);
  const given = await prepareInputs({ lab, place, machine, ref, fresh: false, dryRun: true });
  const inputs: ArgInputs = {
    ...given.inputs,
    home: machine.home,
    vm: ref.paths,
    authorizedKey,
    qmpTcpPort: ref.qmpPort,
    ramFile: machine.ramFileFor?.(ref, vm.memory, 'assumed'),
    dataDirs: machine.qemuDataDirs?.(),
  };
  // A VM booted once runs the machine type pinned then; one never booted, the spec's as asked.
  const as = { ...vm, machine: pinnedType(vm.machine, record?.machine) ?? vm.machine, ...given.as };
  if (!parent)
    return {
      vm: vm.name,
      lab: lab.name,
      depth: 1,
      where: machine.where,
      binary: host.qemu.path ?? 'qemu-system-x86_64',
      ...(host.install.moduleDir ? { env: moduleEnv(host.install) } : {}),
      kvm: host.kvm,
      kvmSource: 'host',
      plan: qemuPlan(as, host.kvm, inputs),
    };
  let kvm: KvmVerdict | undefined;
  if (opts.probeParents !== false) {
    const g = await connectPlace(lab, parent, 3000).catch(() => undefined);
    if (g)
      kvm = await guestMachine(g, parent.vm.name)
        .probe()
        .then(
          (p) => p.kvm,
          () => undefined,
        )
        .finally(() => g.close());
  }
  const verdict = kvm ?? impliedByParent(parent, host.kvm);
  return {
    vm: vm.name,
    lab: lab.name,
    depth: place.depth,
    where: machine.where,
    binary: 'qemu-system-x86_64',
    kvm: verdict,
    kvmSource: kvm ? 'parent-probe' : 'parent-cpu',
    plan: qemuPlan(as, verdict, inputs),
  };
}
