// Before a boot starts anything: QEMU there, the VM not already up (or cleaned up after a
// crash), room for it, its ports free; and for a resume, the same devices as the saved state;
// then the guest's host key pinned, as the kit connects to no unknown key.
import { TaskError, UsageError } from '../util/errors.ts';
import type { Forward, LabResolved, VmPlace } from '../spec/tree.ts';
import { hostKeyAlias, labKeys, pinHostKey, pinnedHostKey } from '../ssh/keys.ts';
import type { Machine, MachineProbe, QemuRef } from '../machine/machine.ts';
import type { BootOptions } from './boot-on.ts';
import { vmStatus } from './status.ts';
import { checkHostInputFiles } from './input-files.ts';

/** Before anything starts: the spec's files there, QEMU there, the VM not already up, room for it, its ports free. */
export async function preflight(
  machine: Machine,
  lab: LabResolved,
  place: VmPlace,
  ref: QemuRef,
  forwards: Forward[],
  opts: BootOptions,
): Promise<MachineProbe> {
  const vm = place.vm;
  const at = machine.at;
  checkHostInputFiles(lab, place);
  const probe = await machine.probe(forwards);
  // A parent makes its children's overlays with qemu-img; this host makes them in-process too.
  const missing = [probe.qemu ? undefined : 'qemu-system-x86_64', probe.qemuImg || !machine.inside ? undefined : 'qemu-img'].filter(Boolean);
  if (missing.length)
    throw new TaskError(`${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not installed ${machine.where}`, { hint: machine.installHint });
  if (!opts.checked) {
    const live = await vmStatus(machine, lab, place);
    if (live.state === 'running' || live.state === 'booting')
      throw new TaskError(`${vm.name} is already ${live.state}${at} (pid ${live.pid})`, { hint: `stop it first: npx tsx tasks.ts stop ${vm.name}` });
    if (live.state === 'crashed') {
      if (live.pid && (await machine.sample(ref, { pid: live.pid })).alive)
        throw new TaskError(`${vm.name} crashed but its QEMU (pid ${live.pid}) still runs${at}: ${live.reason}`, {
          hint: `clean up first: npx tsx tasks.ts stop ${vm.name}`,
        });
      opts.warn?.(`${vm.name}: cleaning up after a crash (${live.reason})`);
      await machine.cleanRuntime(ref);
    }
  }
  if (vm.memory > probe.memoryMiB)
    throw new UsageError(`${place.path}.memory: ${vm.memory} MiB is more than ${place.parent ? place.parent.name : 'this host'} has (${probe.memoryMiB} MiB)`);
  const taken = probe.taken[0];
  if (taken)
    throw new TaskError(`port ${taken.forward.bind}:${taken.forward.host} is taken${at}${taken.holder ? ` by ${taken.holder}` : ''}; not starting QEMU`, {
      hint: 'stop what holds it, or change network.sshPort/forwards in the spec',
    });
  return probe;
}

/** QEMU loads a saved state only into the machine it was saved from: the same devices, disks and files. */
export function checkSameDevices(name: string, saved: string[], now: string[]): void {
  // Where the RAM file is mapped from may differ (in memory, or from where it was saved): the state names its block, not its path.
  const unplaced = (a: string | undefined) => a?.replace(/(^|,)mem-path=(?:[^,]|,,)*/, '$1mem-path=');
  // Where the firmware is looked for (-L, a QEMU unpacked into a folder) is no device.
  saved = withoutDataDirs(saved);
  now = withoutDataDirs(now);
  const i = saved.findIndex((a, j) => unplaced(a) !== unplaced(now[j]));
  if (i === -1 && saved.length === now.length) return;
  const at = i === -1 ? Math.min(saved.length, now.length) : i;
  throw new UsageError(
    `${name}'s saved state was made with another command line: argument ${at + 1} was ${JSON.stringify(saved[at] ?? '(none)')}, now ${JSON.stringify(now[at] ?? '(none)')} (the spec or an image changed since)`,
    'boot it cold instead: npx tsx tasks.ts up LAB --cold (the saved state is kept as a snapshot)',
  );
}

/** Pins the guest's host key for the lab, or finds the one pinned before; the kit never connects to an unknown key. */
export function pinKey(lab: LabResolved, place: VmPlace, hostKey: string | undefined): string | undefined {
  if (place.vm.network.sshPort === undefined) return hostKey;
  const keys = labKeys(lab.name);
  const alias = hostKeyAlias(lab.name, place.vm.name);
  if (hostKey) pinHostKey(keys.knownHostsPath, alias, hostKey);
  const pinned = hostKey ?? pinnedHostKey(keys.knownHostsPath, alias);
  if (!pinned)
    throw new UsageError(
      `${place.vm.name}: no pinned SSH host key (${alias})`,
      `add "${alias} <key type> <key>" to ${keys.knownHostsPath}: the kit never connects to an unknown host key`,
    );
  return pinned;
}

/** A command line without its -L folders. */
function withoutDataDirs(argv: string[]): string[] {
  return argv.filter((a, i) => a !== '-L' && argv[i - 1] !== '-L');
}
