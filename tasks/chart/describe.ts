// One-line descriptions of VMs and labs for trees and listings.
import type { LabResolved, VmResolved } from '../spec/tree.ts';
import type { TreeNode } from './tree.ts';
import { formatBytes, MiB } from '../spec/size.ts';

export function describeBoot(vm: VmResolved): string {
  const b = vm.boot;
  if (b === 'disk') return 'boot disk';
  if ('iso' in b) return `boot iso ${b.iso}`;
  if ('cloudImage' in b) return `cloud image ${b.cloudImage}`;
  if ('kernel' in b) return `boot kernel ${b.kernel}`;
  return `image ${b.image}`;
}

export function describeVm(vm: VmResolved): string {
  const parts = [`${vm.cpus} CPU${vm.cpus === 1 ? '' : 's'}`, formatBytes(vm.memory * MiB)];
  if (vm.disk) parts.push(`disk ${vm.disk.size !== undefined ? formatBytes(vm.disk.size) : 'overlay'} ${vm.disk.format}`);
  parts.push(describeBoot(vm), `accel ${vm.accel}`);
  if (vm.network.sshPort !== undefined) parts.push(`ssh ${vm.network.bind}:${vm.network.sshPort}→22`);
  return `${vm.name}${vm.title ? ` "${vm.title}"` : ''}  ${parts.join(' · ')}`;
}

export function labTree(lab: LabResolved): TreeNode {
  const node = (vm: VmResolved): TreeNode => ({ label: describeVm(vm), children: vm.children.map(node) });
  return { label: `${lab.host.title} (host)`, children: lab.vms.map(node) };
}
