// From a VM name on the command line to what tasks act on: its lab, place, state folder,
// and an SSH connection checked against the pinned host key.
import type { TaskContext } from './registry.ts';
import { loadVm } from './load.ts';
import { kitPaths, type KitPaths } from './paths.ts';
import type { LabResolved, VmPlace } from './resolve.ts';
import { liveStatus, readState } from './vm-state.ts';
import { TaskError } from './errors.ts';
import { labKeys, pinnedHostKey } from './keys.ts';
import { Guest } from './guest.ts';

export interface VmTarget {
  lab: LabResolved;
  place: VmPlace;
  paths: KitPaths;
}

export async function vmTarget(ctx: TaskContext, name: string): Promise<VmTarget> {
  const { lab, place } = await loadVm(name, { spec: ctx.spec, lab: ctx.opts.lab as string | undefined });
  return { lab, place, paths: kitPaths(lab.name, place.vm.name) };
}

/** An SSH session to a running VM, through its forwarded port. */
export async function connectGuest(t: VmTarget): Promise<Guest> {
  const vm = t.place.vm;
  const live = await liveStatus(t.paths.vm, { lab: t.lab.name, name: vm.name, depth: t.place.depth });
  if (live.state !== 'running') throw new TaskError(`${vm.name} is ${live.state}${live.reason ? ` (${live.reason})` : ''}`, { hint: `boot it: npx tsx tasks.ts boot ${vm.name}` });
  const ssh = readState(t.paths.vm)?.ssh;
  if (!ssh) throw new TaskError(`${vm.name} has no SSH forward`, { hint: `set network.sshPort for ${vm.name} in the spec` });
  const keys = labKeys(t.lab.name);
  const hostKey = pinnedHostKey(keys.knownHostsPath, ssh.host, ssh.port);
  if (!hostKey) throw new TaskError(`no pinned host key for ${ssh.host}:${ssh.port} in ${keys.knownHostsPath}`, { hint: 'the kit only connects to guests whose host key it knows' });
  return Guest.connect({ name: vm.name, host: ssh.host, port: ssh.port, user: ssh.user, privateKeyPath: keys.privateKeyPath, hostKey });
}
