// Load → fill defaults → validate, as lima's limayaml does.  Source precedence:
// what the spec says wins; otherwise a default computed here from the spec and host facts.
// All pure: the host facts come in as data, so tests can pass any host.  The tree's types
// and walk are tree.ts's; the cross-field checks, checks.ts's.
import { Lab, MIN_MEMORY_MIB, VM_KEYS, type VmParsed } from './schema.ts';
import { SpecError } from '../util/errors.ts';
import type { HostFacts, LabResolved, VmResolved } from './tree.ts';
import { checkLab, shapeProblem, zodProblems } from './checks.ts';

export const defaultCpus = (host: HostFacts, parent?: { cpus: number }) => Math.max(1, Math.min(2, host.cpus, parent?.cpus ?? Infinity));
export const defaultMemory = (parent?: { memory: number }) => Math.min(512, parent ? Math.max(MIN_MEMORY_MIB, Math.floor(parent.memory / 2)) : Infinity);

/** Parses, fills defaults and checks a lab.  Throws SpecError naming every bad field. */
export function resolveLab(input: unknown, host: HostFacts, source: string): LabResolved {
  // zod walks the input recursively: a cycle or a very deep document would overflow its stack.
  const shape = shapeProblem(input);
  if (shape) throw new SpecError(source, [shape]);
  const parsed = Lab.safeParse(input);
  if (!parsed.success) throw new SpecError(source, zodProblems(parsed.error.issues));
  const lab: LabResolved = { ...parsed.data, vms: parsed.data.vms.map((vm) => fillVm(vm, host, undefined)) };
  const problems = checkLab(lab);
  if (problems.length) throw new SpecError(source, problems);
  return lab;
}

function fillVm(vm: VmParsed, host: HostFacts, parent: VmResolved | undefined): VmResolved {
  const { children, ...rest } = vm;
  const self: VmResolved = {
    ...rest,
    cpus: vm.cpus ?? defaultCpus(host, parent),
    memory: vm.memory ?? defaultMemory(parent),
    nested: vm.nested ?? (children?.length ?? 0) > 0,
    boot: vm.boot ?? 'disk',
    children: [],
  };
  self.children = withSshPorts((children ?? []).map((c) => fillVm(c, host, self)));
  return inSchemaOrder(self);
}

/** Where a child's SSH port goes when the spec gives none: the lowest one from here not taken on its parent. */
export const FIRST_CHILD_SSH_PORT = 2222;

/**
 * The kit reaches a child over SSH through its parent, so every child has a port there: one
 * the spec leaves out gets the lowest TCP port from 2222 that no sibling forwards.  Ports
 * the spec names are taken first, so adding a port to the spec never moves another one.
 */
function withSshPorts(children: VmResolved[]): VmResolved[] {
  const taken = new Set(
    children.flatMap((c) => [
      ...(c.network.sshPort === undefined ? [] : [c.network.sshPort]),
      ...c.network.forwards.filter((f) => f.proto === 'tcp').map((f) => f.host),
    ]),
  );
  return children.map((c) => {
    if (c.network.sshPort !== undefined) return c;
    let port = FIRST_CHILD_SSH_PORT;
    while (taken.has(port)) port++;
    taken.add(port);
    return inSchemaOrder({ ...c, network: { sshPort: port, ...c.network } });
  });
}

/** Keys in the schema's order, so printing a resolved spec is stable whatever the input order. */
function inSchemaOrder(vm: VmResolved): VmResolved {
  const out: Record<string, unknown> = {};
  for (const key of VM_KEYS) if ((vm as Record<string, unknown>)[key] !== undefined) out[key] = (vm as Record<string, unknown>)[key];
  return out as VmResolved;
}
