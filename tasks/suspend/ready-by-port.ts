// After a resume, every layer asked through the kit's port shells (console/port-shell.ts), no
// SSH handshake: a child saved paused inside its parent goes on (its QMP from inside the parent,
// console/child-qmp.ts), its QEMU is sampled with the same script an SSH session would run
// (machine/guest-sample.ts), and every layer's clock is set from the host's — a parent's
// children and its clock all at once, in one exchange per level of nesting.  Measured with
// QEMU alone first (the kit's tiny nested pair under TCG, one saved state resumed each way): the
// child answered 0.51–0.69 s after its parent's QEMU started, against 1.57–1.83 s with fresh
// SSH handshakes.
//
// Anything this way cannot answer — a layer without a port shell, an old record, a shell that
// does not answer in time — gives undefined, and the caller asks over SSH as before (which
// takes up wherever this stopped: a child already going on is found running).
import { dirname } from 'node:path';
import { PORT_SHELL_ANSWER_MS, PortShell, portShellsEnabled } from '../console/port-shell.ts';
import { childQmpExchange, qmpStatuses } from '../console/child-qmp.ts';
import { topMachine } from '../machine/machine-for.ts';
import { readState, updateState, type VmState } from '../machine/record.ts';
import { parseSample, sampleScript } from '../machine/guest-sample.ts';
import type { QemuRef } from '../machine/machine.ts';
import { pipeFifos, servesPortShell } from '../qemu/port-shell.ts';
import { topPlaces, walkBelow, walkVms, type LabResolved, type VmPlace } from '../spec/tree.ts';
import { classifyStatus, DEAD_QMP, vmStatus, type VmStatus } from '../vm/status.ts';
import type { AfterStart, AfterStartOptions } from './after-start.ts';
import { clockCommand, layerReady, type LayerReady } from './layer-clock.ts';
import { recordOf } from './saved.ts';

/** This way cannot answer: the caller goes the SSH way. */
class NoPortShell extends Error {}

/** The port shell pipe a nested VM's QEMU was started with, from its command line. */
const pipeOf = (argv: string[]) => pipeFifos(argv)[0]?.replace(/\.in$/, '');

/** A child's QEMU as its record names it: enough for the sample script (its pidfile) and its QMP port. */
function childRef(place: VmPlace, record: VmState): { ref: QemuRef; pipe: string } {
  const argv = record.argv ?? [];
  const at = argv.indexOf('-pidfile');
  const pidfile = at < 0 ? undefined : argv[at + 1];
  const pipe = pipeOf(argv);
  if (record.phase !== 'suspended' || !record.pid || !record.qmpPort || !pipe || !pidfile)
    throw new NoPortShell(`${place.vm.name}: its record names no port shell`);
  const dir = dirname(pidfile);
  return { ref: { name: place.vm.name, paths: { dir, pid: pidfile, qmp: '', serial: '', stderr: '' }, qmpPort: record.qmpPort }, pipe };
}

/**
 * In the parent, one exchange with the child's QEMU: its status, `cont`, its status again — a
 * child saved paused goes on; `cont` changes nothing for one that runs, and QEMU refuses it for
 * a dead one (whose first status says so).  Then its QEMU sampled.
 */
const goOnScript = (ref: QemuRef, pid: number) =>
  [childQmpExchange(ref.qmpPort!, ['query-status', 'cont', 'query-status']), sampleScript(ref, { fallbackPid: pid })].join('\n');

/** The child's QMP status after the exchange: the status it went on to, or the dead one it had. */
export function statusOf(out: string): string | undefined {
  const [before, after] = qmpStatuses(out);
  return before !== undefined && DEAD_QMP.has(before) ? before : after;
}

/**
 * Whether to try this way at all: off with GRAINCHART_PORT_SHELL=0; else where every top-level VM
 * is a kit image (its plan gives it the port) whose QEMU runs on this host, and every VM below
 * was saved running inside it, started with its pipe.
 */
export async function portShellsAll(lab: LabResolved, tops: VmPlace[]): Promise<boolean> {
  if (!portShellsEnabled()) return false;
  for (const top of tops) {
    if (!isKitImage(top) || !(await topMachine(lab, top)).readsHostFiles) return false;
    for (const place of walkBelow(top)) {
      const record = readState(recordOf(lab, place));
      if (!isKitImage(place) || record?.phase !== 'suspended' || !pipeOf(record.argv ?? [])) return false;
    }
  }
  return true;
}

const isKitImage = (place: VmPlace) => servesPortShell(place.vm.boot);

/** A layer known to run, and the pipes on the way to it from its top-level VM's shell. */
interface Reached {
  place: VmPlace;
  via: string[];
}

export async function readyByPorts(lab: LabResolved, started: VmPlace[], t0: number, o: AfterStartOptions): Promise<AfterStart | undefined> {
  const shells: PortShell[] = [];
  const rows = new Map<string, VmStatus>();
  /** A child saved paused inside its parent, reached: gone on, sampled, recorded running. */
  const wentOn = (place: VmPlace, ref: QemuRef, pid: number, out: string) => {
    const sample = parseSample(out, ref, { fallbackPid: pid });
    const status = statusOf(out);
    if (!sample.alive || !status || DEAD_QMP.has(status)) throw new NoPortShell(`${place.vm.name} did not go on (${status ?? 'no QMP answer'})`);
    const paths = recordOf(lab, place);
    updateState(paths, { phase: 'running' });
    const base = { lab: lab.name, name: place.vm.name, parent: place.parent?.name, depth: place.depth };
    rows.set(place.vm.name, classifyStatus(base, { record: readState(paths), sample, qmp: { status }, where: `inside ${place.parent!.name}` }));
  };
  /**
   * Round by round, one exchange with the top's shell each: the layers reached get their
   * clocks set while the children below them go on, all side by side — so a parent's children
   * wait for none of each other, and a child's `cont` for no clock.
   */
  const readyBelow = async (shell: PortShell, top: VmPlace): Promise<LayerReady[]> => {
    const layers: LayerReady[] = [];
    let reached: Reached[] = [{ place: top, via: [] }];
    while (reached.length) {
      const next = reached.flatMap((r) =>
        [...walkBelow(top)]
          .filter((p) => p.parent?.name === r.place.vm.name)
          .map((place) => {
            const record = readState(recordOf(lab, place));
            // A child that was not running when its parent was saved stays as it is: the SSH way records it.
            if (!record) throw new NoPortShell(`${place.vm.name} is not known to run`);
            return { place, via: r.via, record, ...childRef(place, record) };
          }),
      );
      const now = Date.now() / 1000;
      const answers = await shell
        .runAll(
          [
            ...reached.map((r) => ({ via: r.via, command: clockCommand(now) })),
            ...next.map((c) => ({ via: c.via, command: goOnScript(c.ref, c.record.pid!) })),
          ],
          PORT_SHELL_ANSWER_MS,
        )
        .catch((err: Error) => {
          throw new NoPortShell(err.message);
        });
      const failed = answers.find((a) => a.code !== 0);
      if (failed) throw new NoPortShell(`exit ${failed.code}: ${failed.out.trim().split('\n').at(-1) ?? ''}`);
      for (const [i, r] of reached.entries())
        layers.push(layerReady(lab, r.place, answers[i]!.out, now, t0, 'port-shell', o.savedUptimeS?.get(r.place.vm.name), o.warn));
      for (const [i, c] of next.entries()) wentOn(c.place, c.ref, c.record.pid!, answers[reached.length + i]!.out);
      reached = next.map((c) => ({ place: c.place, via: [...c.via, c.pipe] }));
    }
    return layers;
  };
  try {
    const others = topPlaces(lab).filter((p) => !started.some((s) => s.vm.name === p.vm.name));
    if (others.length) throw new NoPortShell(`${others[0]!.vm.name} was not started by this resume`);
    const perTop = await Promise.all(
      started.map(async (top): Promise<LayerReady[]> => {
        const machine = await topMachine(lab, top);
        const shell = PortShell.ofHostVm(machine, machine.ref(lab, top).paths);
        if (!shell) throw new NoPortShell(`${top.vm.name} has no port shell on this host`);
        shells.push(shell);
        const layers = await readyBelow(shell, top);
        rows.set(top.vm.name, await vmStatus(machine, lab, top));
        return layers;
      }),
    );
    // Every layer and every VM's row, in the lab's order.
    const order = [...walkVms(lab.vms)].map((p) => p.vm.name);
    const layers = perTop.flat().sort((a, b) => order.indexOf(a.vm) - order.indexOf(b.vm));
    return { layers, status: order.map((name) => rows.get(name)!) };
  } catch (err) {
    if (err instanceof NoPortShell) {
      o.warn?.(`asking the resumed guests over SSH: ${err.message}`);
      return undefined;
    }
    throw err;
  } finally {
    for (const s of shells) s.close();
  }
}
