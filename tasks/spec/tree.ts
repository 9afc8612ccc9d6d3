// A lab as a tree of resolved VMs: the types every layer uses, and the one walk over the tree
// (each VM with its path, parent and depth), with the lookups built on it.
import type { BootSpec, LabParsed, LibvirtSpec, VmParsed } from './schema.ts';

export interface HostFacts {
  cpus: number;
  memoryMiB: number;
}

export type VmResolved = Omit<VmParsed, 'cpus' | 'memory' | 'nested' | 'boot' | 'children'> & {
  cpus: number;
  memory: number; // MiB
  nested: boolean;
  boot: BootSpec;
  children: VmResolved[];
};
export type LabResolved = Omit<LabParsed, 'vms'> & { vms: VmResolved[] };

/** A VM with where it sits in the tree, for lookups and messages. */
export interface VmPlace {
  vm: VmResolved;
  path: string; // vms[0].children[1]
  parent?: VmResolved;
  depth: number; // 1 = guest of the host, 2 = nested, …
}

export function* walkVms(vms: VmResolved[], base = 'vms', parent?: VmResolved, depth = 1): Generator<VmPlace> {
  for (const [i, vm] of vms.entries()) {
    const path = `${base}[${i}]`;
    yield { vm, path, parent, depth };
    yield* walkVms(vm.children, `${path}.children`, vm, depth + 1);
  }
}

/** The lab's top-level VMs, placed as walkVms places them. */
export const topPlaces = (lab: Pick<LabResolved, 'vms'>): VmPlace[] => [...walkVms(lab.vms)].filter((p) => !p.parent);

/** Every VM below `place` (its children, theirs, …), placed as walkVms places them. */
export const walkBelow = (place: VmPlace) => walkVms(place.vm.children, `${place.path}.children`, place.vm, place.depth + 1);

/** The libvirt connection `place` runs on: its own, else the lab's; none for a child (it runs in its parent) or by default. */
export const libvirtOf = (lab: Pick<LabResolved, 'host'>, place: Pick<VmPlace, 'vm' | 'parent'>): LibvirtSpec | undefined =>
  place.parent ? undefined : (place.vm.libvirt ?? lab.host.libvirt);

export const libvirtUri = (lab: Pick<LabResolved, 'host'>, place: Pick<VmPlace, 'vm' | 'parent'>): string | undefined => libvirtOf(lab, place)?.uri;

/** A port forward as QEMU sets it up: the spec's sshPort and forwards, binds filled in. */
export interface Forward {
  bind: string;
  host: number;
  guest: number;
  proto: string;
}

/** Every forward of a VM: its SSH port first, then `network.forwards`, each with its bind address. */
export function forwardsOf(vm: Pick<VmResolved, 'network'>): Forward[] {
  const net = vm.network;
  return [
    ...(net.sshPort !== undefined ? [{ bind: net.bind, host: net.sshPort, guest: 22, proto: 'tcp' }] : []),
    ...net.forwards.map((f) => ({ bind: f.bind ?? net.bind, host: f.host, guest: f.guest, proto: f.proto })),
  ];
}

/** Finds a VM by name anywhere in the tree. */
export function findVm(lab: LabResolved, name: string): VmPlace | undefined {
  for (const place of walkVms(lab.vms)) if (place.vm.name === name) return place;
  return undefined;
}

/** QMP of a child listens on its parent's loopback at this port + the child's index. */
export const CHILD_QMP_PORT_BASE = 14000;
