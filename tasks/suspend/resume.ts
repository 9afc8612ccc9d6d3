// Resuming a suspended lab, and starting one from a golden snapshot: each top-level VM
// started again with the command line it was saved with plus -loadvm (or from libvirt's
// managed save), its children running on inside; the clock set in every layer; a failed
// resume rolls every record back, so the lab stays suspended with its save.
import { withRuntime } from '../vm/runtime.ts';
import { afterStart } from './after-start.ts';
import { portShellsAll } from './ready-by-port.ts';
import type { LayerReady } from './layer-clock.ts';
import { recordOf, suspendedPlaces } from './saved.ts';
import { recordsAsNow, saveAgain } from './rollback.ts';
import { checkSavedKept } from './saved-kept.ts';
import { UsageError } from '../util/errors.ts';
import { topMachine } from '../machine/machine-for.ts';
import { devicesFile, dropRunningRam, savedRam } from '../machine/ram-file.ts';
import { ramFileOf } from '../qemu/args.ts';
import { topPlaces, type LabResolved, type VmPlace } from '../spec/tree.ts';
import { readState } from '../machine/record.ts';
import { vmStatus, type VmStatus } from '../vm/status.ts';
import { stopQemu } from '../vm/stop.ts';
import type { Guest } from '../ssh/guest.ts';
import { bootVm, type BootResult } from '../vm/boot.ts';
import { openSite } from '../snapshot/site.ts';
import { listSnapshots, removeSnapshot } from '../snapshot/ops.ts';

export interface ResumeOptions {
  quiet?: boolean;
  warn?: (m: string) => void;
  info?: (m: string) => void;
  /** Keep the saved state as an ordinary snapshot after a good resume. */
  keep?: boolean;
}

export interface ResumeStep {
  vm: string;
  snapshot: string;
  /** Loaded from its machine's managed save. */
  managed?: boolean;
  /** Its saved devices loaded, its RAM mapped from its file. */
  devices?: boolean;
  /** Until the VM answered over SSH after its QEMU started from the saved state. */
  seconds: number;
  result: BootResult;
}

/** What a resume (or a start from a golden state) did, and the lab's status read right after over the same channels. */
export interface Resumed {
  steps: ResumeStep[];
  layers: LayerReady[];
  status: VmStatus[];
}

/**
 * Starts every suspended top-level VM from its saved state, then makes sure each layer
 * answers and sets its clock from the host's (a guest's clock is as old as the save).
 * A refusal (another QEMU version, another command line, the snapshot gone) leaves the
 * lab suspended and says how to boot it cold.
 */
export async function resumeLab(lab: LabResolved, opts: ResumeOptions = {}): Promise<Resumed> {
  const t0 = Date.now();
  const suspended = suspendedPlaces(lab);
  if (!suspended.length) throw new UsageError(`lab ${lab.name} is not suspended`, `start it: npx tsx tasks.ts up ${lab.name}`);
  await checkSavedKept(lab, suspended);
  // How long each top-level guest had been up when it was saved (its kernel starts a moment after its QEMU).
  const savedUptime = new Map(
    suspended.flatMap(({ place, saved, record }) =>
      record.startedAt ? [[place.vm.name, (Date.parse(saved.at) - Date.parse(record.startedAt)) / 1000 - 2] as [string, number]] : [],
    ),
  );
  const tops: Top[] = [];
  for (const { place, saved } of suspended) {
    const top: Top = { place, snapshot: saved.snapshot, savedArgv: saved.argv, managed: saved.managed };
    if (saved.devices) top.devices = devicesFile((await topMachine(lab, place)).ref(lab, place));
    tops.push(top);
  }
  const { steps, layers, status } = await startTops(lab, tops, 'resuming from', t0, opts, savedUptime);
  // libvirt removes a managed save once it has loaded it; saved devices mean nothing once the guest runs on.
  const own = steps.filter((s) => !s.managed && !s.devices);
  for (const t of tops) if (t.devices) await dropSaved(lab, t.place, t.devices);
  if (opts.keep && own.length < steps.length)
    opts.warn?.(
      `--keep keeps only saves in a qcow2: the saved state of ${steps
        .filter((s) => !own.includes(s))
        .map((s) => s.vm)
        .join(', ')} was used up as it loaded (a managed save, or devices with the RAM in its file)`,
    );
  if (!opts.keep)
    await withRuntime(lab, async (parents) => {
      for (const s of own) await removeSnapshot(await openSite(lab, suspended.find((x) => x.place.vm.name === s.vm)!.place, parents), s.snapshot);
    });
  return { steps, layers, status };
}

/**
 * `up --from NAME`: a stopped lab starts from a lab-wide live snapshot made earlier with
 * `snapshot LAB` (a golden state for CI).  The snapshot stays; each top-level VM must hold
 * it with its VM state (taken while the lab ran).
 */
export async function startFrom(lab: LabResolved, name: string, opts: ResumeOptions = {}): Promise<Resumed> {
  const t0 = Date.now();
  const places = topPlaces(lab);
  const statuses = await Promise.all(places.map(async (p) => vmStatus(await topMachine(lab, p), lab, p)));
  const up = statuses.find((s) => s.state === 'running' || s.state === 'booting');
  if (up) throw new UsageError(`${up.name} is ${up.state}: up --from starts a stopped lab`, `bring it down first: npx tsx tasks.ts down ${lab.name}`);
  await withRuntime(lab, async (parents) => {
    for (const place of places) {
      const list = await listSnapshots(await openSite(lab, place, parents));
      const hit = list.find((s) => s.name === name);
      if (!hit)
        throw new UsageError(
          `${place.vm.name} has no snapshot named ${name}`,
          list.length ? `its snapshots: ${list.map((s) => s.name).join(', ')}` : `make one of the running lab: npx tsx tasks.ts snapshot ${lab.name}`,
        );
      if (!hit.vmStateSize)
        throw new UsageError(
          `${name} was taken with ${place.vm.name} stopped: it has no VM state to start from`,
          `take one while the lab runs (npx tsx tasks.ts snapshot ${lab.name}), or restore ${name} and boot cold`,
        );
    }
  });
  return startTops(
    lab,
    places.map((place) => ({ place, snapshot: name })),
    'starting from',
    t0,
    opts,
  );
}

/**
 * Starts each top-level VM from its snapshot (or its machine's managed save), then waits
 * until every layer answers.  Nothing is lost when any of it fails: every record of the lab
 * is put back as it was, suspended or stopped, and the same command can be given again.  A
 * QEMU started from a qcow2 snapshot ends (the snapshot is still on the disk); one that
 * loaded a managed save (which libvirt removed then) is saved that way again before it ends.
 */
async function startTops(lab: LabResolved, tops: Top[], verb: string, t0: number, opts: ResumeOptions, savedUptime?: Map<string, number>): Promise<Resumed> {
  const putBack = recordsAsNow(lab);
  const steps: ResumeStep[] = [];
  const begun: Top[] = [];
  // Each boot's SSH session goes on into the layer checks.
  const handed = new Map<string, Guest>();
  // Through the port shells where the whole tree has them: the boots then wait for no SSH.
  const byPort = await portShellsAll(
    lab,
    tops.map((t) => t.place),
  );
  try {
    for (const top of tops) {
      const { place, snapshot, savedArgv, managed, devices } = top;
      opts.info?.(`${place.vm.name}: ${verb} ${managed ? 'its managed save' : devices ? 'its saved devices and RAM file' : snapshot}…`);
      const started = Date.now();
      begun.push(top);
      // A boot that fails after a managed save was loaded leaves its QEMU running, to be saved again.
      const result = await bootVm(await topMachine(lab, place), lab, place, {
        quiet: opts.quiet,
        warn: opts.warn,
        checked: true,
        loadvm: managed || devices ? undefined : snapshot,
        incoming: devices,
        keepOnFailure: managed || !!devices,
        savedArgv,
        keepSession: (g) => handed.set(place.vm.name, g),
        readyWhenRunning: byPort,
      });
      steps.push({
        vm: place.vm.name,
        snapshot,
        ...(managed ? { managed } : {}),
        ...(devices ? { devices: true } : {}),
        seconds: (Date.now() - started) / 1000,
        result,
      });
    }
    return {
      steps,
      ...(await afterStart(
        lab,
        tops.map((t) => t.place),
        t0,
        { warn: opts.warn, savedUptimeS: savedUptime, handed, byPort },
      )),
    };
  } catch (err) {
    for (const g of handed.values()) g.close();
    await saveAgain(
      lab,
      begun.filter((t) => t.managed || t.devices),
      opts.warn,
    );
    // Each record names the pid its boot started (a failed boot's only when it kept its QEMU).
    for (const { place, devices } of begun) {
      const machine = await topMachine(lab, place);
      const record = readState(recordOf(lab, place));
      const ref = machine.ref(lab, place, record);
      await stopQemu(machine, ref, record?.pid, { graceful: false }).catch(() => undefined);
      // Its saved RAM is as it was (or saved again just now): the copy it ran from goes.
      if (devices) await dropRunningRam(machine, ref, ramFileOf(record?.argv ?? [])).catch(() => undefined);
    }
    putBack();
    throw err;
  }
}

/** A resumed VM's saved devices and RAM: they mean nothing once its guest runs on (unless it runs from that RAM file). */
async function dropSaved(lab: LabResolved, place: VmPlace, devices: string): Promise<void> {
  const machine = await topMachine(lab, place);
  const ref = machine.ref(lab, place);
  const running = ramFileOf(readState(recordOf(lab, place))?.argv ?? []);
  await machine.run(['rm', '-f', devices, ...(running === savedRam(ref) ? [] : [savedRam(ref)])]);
}

export interface Top {
  place: VmPlace;
  snapshot: string;
  /** The command line the state was saved with. */
  savedArgv?: string[];
  /** Its machine's managed save holds the state, not the qcow2. */
  managed?: boolean;
  /** The file its devices were saved to, its RAM in its RAM file. */
  devices?: string;
}
