// From a VM name on the command line to what tasks act on: its lab, place, state folder,
// and an SSH connection checked against the pinned host key — at any layer: a nested VM
// is reached through its parent's connection (ssh2 direct-tcpip), no host port needed.
import type { TaskContext } from '../cli/registry.ts';
import { loadVm } from '../spec/load.ts';
import { kitPaths, type KitPaths } from '../util/paths.ts';
import { findVm, type LabResolved, type VmPlace } from '../spec/tree.ts';
import { readState } from '../machine/record.ts';
import type { VmStatus } from './status.ts';
import { TaskError } from '../util/errors.ts';
import { retry } from '../util/retry.ts';
import { hostKeyAlias, labKeys, pinnedHostKey } from '../ssh/keys.ts';
import { Guest } from '../ssh/guest.ts';
import { vmStatus } from './status.ts';
import { topMachine } from '../machine/machine-for.ts';
import { guestMachine } from '../machine/guest.ts';

export interface VmTarget {
  lab: LabResolved;
  place: VmPlace;
  paths: KitPaths;
}

export async function vmTarget(ctx: TaskContext, name: string): Promise<VmTarget> {
  const { lab, place } = await loadVm(name, { spec: ctx.spec, lab: ctx.opts.lab as string | undefined });
  return { lab, place, paths: kitPaths(lab.name, place.vm.name) };
}

const notRunning = (vm: string, s: VmStatus) =>
  new TaskError(`${vm} is ${s.state}${s.reason ? ` (${s.reason})` : ''}`, {
    hint: s.parent ? `start the lab: npx tsx tasks.ts up ${s.lab}` : `boot it: npx tsx tasks.ts boot ${vm}`,
  });

/**
 * An SSH session to a running VM at any depth; closing it closes the parents' sessions too,
 * unless `parent` is given: then a nested VM is reached through that open session, which
 * stays the caller's to close (a SessionPool shares one parent among its children).
 * A connection that drops or is reset (slirp and a busy guest sshd do that now and then) is
 * tried again within `timeoutMs`; the kit's own refusals (not running, no or wrong host
 * key: TaskErrors) are final at once.
 */
export async function connectPlace(lab: LabResolved, place: VmPlace, timeoutMs = 10_000, parent?: Guest): Promise<Guest> {
  const deadline = Date.now() + timeoutMs;
  return retry(() => connectOnce(lab, place, Math.max(500, deadline - Date.now()), parent), {
    what: `an SSH session to ${place.vm.name}`,
    timeoutMs,
    intervalMs: 200,
    fatal: (err) => err instanceof TaskError,
  });
}

async function connectOnce(lab: LabResolved, place: VmPlace, timeoutMs: number, sharedParent?: Guest): Promise<Guest> {
  const vm = place.vm;
  const keys = labKeys(lab.name);
  const alias = hostKeyAlias(lab.name, vm.name);
  const hostKey = pinnedHostKey(keys.knownHostsPath, alias);
  const parent = place.parent ? (sharedParent ?? (await connectPlace(lab, findVm(lab, place.parent.name)!, timeoutMs))) : undefined;
  try {
    // A machine over the parent's session for this one question: is the child running, and a dial to its sshd.
    const machine = parent ? guestMachine(parent, place.parent!.name) : await topMachine(lab, place);
    const state = readState(kitPaths(lab.name, vm.name).vm);
    // Why it cannot be reached, read live on its machine: on a slow machine (inside a parent)
    // asked only when the record says it is not running, or when connecting fails.
    const whyNot = async () => {
      const live = await vmStatus(machine, lab, place);
      return live.state === 'running' ? undefined : notRunning(vm.name, live);
    };
    if (!machine.slow || state?.phase !== 'running') {
      const no = await whyNot();
      if (no) throw no;
    }
    const ssh = state?.ssh;
    if (!ssh) throw new TaskError(`${vm.name} has no SSH forward`, { hint: `set network.sshPort for ${vm.name} in the spec` });
    if (!hostKey)
      throw new TaskError(`no pinned host key for ${vm.name} (${alias}) in ${keys.knownHostsPath}`, {
        hint: 'the kit only connects to guests whose host key it knows',
      });
    const target = { name: vm.name, host: ssh.host, port: ssh.port, user: ssh.user, privateKeyPath: keys.privateKeyPath, hostKey };
    try {
      const sock = await machine.dial(ssh.port, ssh.host);
      return parent ? await parent.connectChild(target, timeoutMs, sock, !!sharedParent) : await Guest.connect(target, timeoutMs, sock);
    } catch (err) {
      if (err instanceof TaskError) throw err;
      throw (await whyNot().catch(() => undefined)) ?? err;
    }
  } catch (err) {
    if (parent && !sharedParent) parent.close();
    throw err;
  }
}

/**
 * exec, cp, ssh and run-in: 10 s for each layer on the way, as every hop's handshake runs on
 * the layer below (a TCG parent takes seconds; a parent on a libvirt server adds the
 * server's session).  One 10 s budget for all of them ran out once in CI, for a nested guest
 * under a qemu+ssh parent just resumed.
 */
export const connectGuest = (t: VmTarget) => connectPlace(t.lab, t.place, 10_000 * t.place.depth);
