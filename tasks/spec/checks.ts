// Cross-field checks that zod's per-field shapes cannot express, and the warnings a spec may
// deserve; every problem names its field path (vms[0].children[1].memory).
import { CHILD_QMP_PORT_BASE, forwardsOf, walkVms, type LabResolved, type VmResolved } from './tree.ts';
import type { z } from 'zod';
import { posix } from 'node:path';
import type { SpecProblem } from '../util/errors.ts';
import { formatBytes, MiB } from './size.ts';

/** Deeper than any lab (a VM is 4 levels: vms, [i], children, [j]; a check 4 more), far below a stack overflow. */
export const MAX_SPEC_DEPTH = 64;

/** A cycle (a .ts spec's `vm.children = [vm]`) or nesting past MAX_SPEC_DEPTH, found without recursion. */
export function shapeProblem(input: unknown): SpecProblem | undefined {
  const stack: Array<{ value: unknown; path: PropertyKey[]; ancestors: Set<object> }> = [{ value: input, path: [], ancestors: new Set() }];
  while (stack.length) {
    const { value, path, ancestors } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (ancestors.has(value)) return { path: formatPath(path), message: 'refers back to a value that contains it (a cycle); a VM cannot be its own child' };
    if (path.length > MAX_SPEC_DEPTH)
      return { path: `${formatPath(path.slice(0, 8))}…`, message: `is nested more than ${MAX_SPEC_DEPTH} levels deep; no lab is` };
    const inner = new Set(ancestors).add(value);
    const entries: Array<[PropertyKey, unknown]> = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    for (const [key, v] of entries) stack.push({ value: v, path: [...path, key], ancestors: inner });
  }
  return undefined;
}

/** Cross-field checks that zod's per-field shapes cannot express. */
export function checkLab(lab: LabResolved): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const seen = new Map<string, string>();
  for (const { vm, path } of walkVms(lab.vms)) {
    const first = seen.get(vm.name);
    if (first) problems.push({ path: `${path}.name`, message: `duplicate VM name "${vm.name}" (also at ${first})` });
    else seen.set(vm.name, path);
    problems.push(...checkVm(vm, path));
  }
  for (const { vm, path, parent } of walkVms(lab.vms))
    if (parent && vm.libvirt)
      problems.push({
        path: `${path}.libvirt`,
        message: `only a top-level VM runs on a libvirt connection; ${vm.name} nests inside ${parent.name} (put libvirt on ${parent.name})`,
      });
  // Forwards listen, and disks are written, on the machine the VMs run on.
  for (const [vms, base] of machineGroups(lab)) problems.push(...checkPorts(vms, base), ...checkDisks(vms, base));
  return problems;
}

/** The VMs that share one machine, with the path of their list: the host's, then each parent's children. */
function* machineGroups(lab: LabResolved): Generator<[VmResolved[], string]> {
  yield [lab.vms, 'vms'];
  for (const { vm, path } of walkVms(lab.vms)) yield [vm.children, `${path}.children`];
}

/** Where a VM's disk path points, to compare paths of VMs on one machine: a relative one is in the VM's own folder. */
const diskKey = (vm: VmResolved, file: string) =>
  file.startsWith('/') || file === '~' || file.startsWith('~/') ? posix.normalize(file) : posix.join('<state>', vm.name, file);

/** One writable disk per VM: two VMs on one machine writing one image corrupt it. */
function checkDisks(vms: VmResolved[], base: string): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const writtenBy = new Map<string, string>();
  for (const [i, vm] of vms.entries()) {
    if (!vm.disk) continue;
    const path = `${base}[${i}].disk.file`;
    const k = diskKey(vm, vm.disk.file);
    const first = writtenBy.get(k);
    if (first)
      problems.push({
        path,
        message: `${vm.disk.file} is also ${first}: two VMs writing one disk corrupt it; give each its own (a relative path is in the VM's own folder)`,
      });
    else writtenBy.set(k, path);
  }
  return problems;
}

/**
 * A disk that is another VM's backing file or image: a base VM prepared for its clones is a
 * real workflow, but booting it while the clones exist breaks them, so it is said.
 */
function backingWarnings(vms: VmResolved[], base: string): SpecProblem[] {
  const readBy = new Map<string, string>();
  for (const [i, vm] of vms.entries()) {
    const boot = vm.boot;
    const reads: Array<[string, string | undefined]> = [
      ['disk.backing', vm.disk?.backing],
      ['boot.cloudImage', typeof boot === 'object' && 'cloudImage' in boot ? boot.cloudImage : undefined],
    ];
    for (const [field, file] of reads) if (file && !readBy.has(diskKey(vm, file))) readBy.set(diskKey(vm, file), `${base}[${i}].${field}`);
  }
  return vms.flatMap((vm, i) => {
    const read = vm.disk && readBy.get(diskKey(vm, vm.disk.file));
    return read
      ? [
          {
            path: `${base}[${i}].disk.file`,
            message: `${vm.disk!.file} is also ${read}: booting this VM changes the base its overlay is built on, which breaks that overlay; boot one or the other`,
          },
        ]
      : [];
  });
}

const LOOPBACK = /^127\./;

/** What a spec may say but should not: each names its field.  Printed by `spec`, and by `boot` and `up` before they start a VM. */
export function specWarnings(lab: LabResolved): SpecProblem[] {
  const warnings: SpecProblem[] = [];
  for (const [vms, base] of machineGroups(lab)) warnings.push(...backingWarnings(vms, base));
  for (const { vm, path } of walkVms(lab.vms)) {
    const net = vm.network;
    const open = (field: string, bind: string) =>
      warnings.push({
        path: `${path}.network.${field}`,
        message: `${bind} is not loopback: the VM's forwards (its sshd among them) can be reached from ${bind === '0.0.0.0' ? 'every network this machine is on' : `the network of ${bind}`}; the kit's default is 127.0.0.1`,
      });
    if (!LOOPBACK.test(net.bind) && forwardsOf(vm).some((f) => f.bind === net.bind)) open('bind', net.bind);
    for (const [j, f] of net.forwards.entries()) if (f.bind && !LOOPBACK.test(f.bind)) open(`forwards[${j}].bind`, f.bind);
  }
  return warnings;
}

function checkVm(vm: VmResolved, path: string): SpecProblem[] {
  const problems: SpecProblem[] = [];
  if (vm.boot === 'disk' && !vm.disk)
    problems.push({ path: `${path}.boot`, message: 'boots from its disk but has no `disk`; add `disk` or a kernel/iso/image boot' });
  if (vm.disk && vm.disk.size === undefined && !vm.disk.backing)
    problems.push({ path: `${path}.disk.size`, message: 'needed unless `backing` gives the size, e.g. "20G"' });
  if (vm.disk?.backing && vm.disk.format !== 'qcow2')
    problems.push({ path: `${path}.disk.format`, message: `a disk with a backing file must be qcow2, got ${vm.disk.format}` });
  if (vm.accel === 'tcg' && vm.cpu && /^host\b/.test(vm.cpu))
    problems.push({ path: `${path}.cpu`, message: `"${vm.cpu}" needs KVM but accel is tcg; use "max" or accel auto` });
  const image = typeof vm.boot === 'object' && 'image' in vm.boot ? vm.boot.image : undefined;
  if (vm.children.length > 0 && image === 'tiny')
    problems.push({ path: `${path}.boot.image`, message: 'a VM with children needs image "tiny-nest", which carries QEMU and the children’s image' });
  if (vm.children.length > 0 && typeof vm.boot === 'object' && 'cloudImage' in vm.boot && vm.boot.cloudImage === 'debian')
    problems.push({
      path: `${path}.boot.cloudImage`,
      message: 'the kit’s "debian" has no QEMU to run children; use "debian-nest" (the same Debian plus qemu-system-x86 and qemu-utils)',
    });
  problems.push(...checkChildren(vm, path));
  if (vm.children.length > 0 && !vm.nested)
    problems.push({ path: `${path}.nested`, message: 'is false but the VM has children; they need virtualization exposed' });
  for (const [i, child] of vm.children.entries()) {
    const at = `${path}.children[${i}]`;
    if (child.memory > vm.memory)
      problems.push({
        path: `${at}.memory`,
        message: `must fit in parent ${vm.name} (${formatBytes(vm.memory * MiB)}), got ${formatBytes(child.memory * MiB)}`,
      });
    if (child.cpus > vm.cpus) problems.push({ path: `${at}.cpus`, message: `must fit in parent ${vm.name} (${vm.cpus} CPUs), got ${child.cpus}` });
  }
  for (const [i, check] of vm.checks.entries()) {
    if (check === 'child-reachable' && !vm.children.length)
      problems.push({ path: `${path}.checks[${i}]`, message: 'child-reachable needs children to reach; this VM has none' });
    if ((check === 'ssh' || check === 'child-reachable') && vm.network.sshPort === undefined)
      problems.push({ path: `${path}.checks[${i}]`, message: `${check} needs network.sshPort to reach the VM` });
  }
  const names = vm.checks.map((c) => (typeof c === 'string' ? c : c.name));
  for (const [i, n] of names.entries()) if (names.indexOf(n) !== i) problems.push({ path: `${path}.checks[${i}]`, message: `duplicate check name "${n}"` });
  const childMemory = vm.children.reduce((sum, c) => sum + c.memory, 0);
  if (vm.children.length > 1 && childMemory > vm.memory)
    problems.push({
      path: `${path}.children`,
      message: `together ask ${formatBytes(childMemory * MiB)}, more than parent ${vm.name} has (${formatBytes(vm.memory * MiB)})`,
    });
  return problems;
}

/** What a parent can run: children it can carry images for, on ports that do not clash inside it. */
function checkChildren(vm: VmResolved, path: string): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const parentImage = typeof vm.boot === 'object' && 'image' in vm.boot ? vm.boot.image : undefined;
  const qmpPorts = vm.children.map((_, i) => CHILD_QMP_PORT_BASE + i);
  for (const [i, child] of vm.children.entries()) {
    const at = `${path}.children[${i}]`;
    const boot = child.boot;
    if (parentImage === 'tiny-nest' && !(typeof boot === 'object' && 'image' in boot && boot.image === 'tiny'))
      problems.push({
        path: `${at}.boot`,
        message: `${vm.name} boots "tiny-nest", which carries only the tiny image for its children; set boot: {image: "tiny"}, or give ${vm.name} boot: {cloudImage: "debian-nest"} to run any image`,
      });
    const net = child.network;
    const ports: Array<[string, number]> = [
      ...(net.sshPort !== undefined ? [[`${at}.network.sshPort`, net.sshPort] as [string, number]] : []),
      ...net.forwards.map((f, j) => [`${at}.network.forwards[${j}].host`, f.host] as [string, number]),
    ];
    for (const [p, port] of ports) {
      if (port === 22) problems.push({ path: p, message: `port 22 is ${vm.name}’s own sshd; a child’s forward inside ${vm.name} needs another port` });
      else if (qmpPorts.includes(port))
        problems.push({
          path: p,
          message: `port ${port} is where the kit puts a child’s QMP inside ${vm.name} (${CHILD_QMP_PORT_BASE} + the child’s index); choose another`,
        });
    }
  }
  return problems;
}

function checkPorts(vms: VmResolved[], base: string): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const taken = new Map<string, string>();
  for (const [i, vm] of vms.entries()) {
    const net = vm.network;
    const entries: Array<[string, number, string]> = [];
    if (net.sshPort !== undefined) entries.push([`${base}[${i}].network.sshPort`, net.sshPort, 'tcp']);
    for (const [j, f] of net.forwards.entries()) entries.push([`${base}[${i}].network.forwards[${j}].host`, f.host, f.proto]);
    for (const [path, port, proto] of entries) {
      const key = `${port}/${proto}`;
      const first = taken.get(key);
      if (first) problems.push({ path, message: `port ${key} is already forwarded by ${first}` });
      else taken.set(key, path);
    }
  }
  return problems;
}

/** zod issues → field paths like vms[0].children[0].memory with readable messages. */
export function zodProblems(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): SpecProblem[] {
  const out: SpecProblem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union') {
      // A branch whose errors all sit below the union's own level matched the shape: report its
      // field errors.  Otherwise no branch fits and the union's own message lists the choices.
      const branch = issue.errors.find((errs) => errs.length > 0 && errs.every((e) => e.path.length > 0 && e.code !== 'unrecognized_keys'));
      if (branch) out.push(...zodProblems(branch, path));
      else out.push({ path: formatPath(path), message: issue.message });
    } else if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: formatPath([...path, key]), message: 'unknown key' });
    } else {
      out.push({ path: formatPath(path), message: issue.message });
    }
  }
  return out;
}

/** vms[0].children[1].memory; a key that is not a plain word is quoted (JSON), so no key can forge a line or a terminal sequence. */
export function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const part of path) {
    if (typeof part === 'number') s += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_$][\w$-]*$/.test(part)) s += s ? `.${part}` : part;
    else s += `[${JSON.stringify(String(part))}]`;
  }
  return s;
}
