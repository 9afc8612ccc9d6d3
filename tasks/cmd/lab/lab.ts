// Whole labs: `up LAB` (parents first, siblings in parallel when the host has room),
// `down LAB` (children first; nothing left running even when a child is unreachable),
// `nest PARENT CHILD`, and `ssh-config LAB` for plain OpenSSH.
import type { TaskContext } from '../../cli/registry.ts';
import { loadLab } from '../../spec/load.ts';
import { findVm, walkVms, type LabResolved, type VmPlace } from '../../spec/resolve.ts';
import { bootVm, type BootResult } from '../../vm/boot.ts';
import { ParentLost } from '../../vm/boot-failure.ts';
import type { Machine } from '../../machine/machine.ts';
import type { Guest } from '../../ssh/guest.ts';
import { stopVm } from '../../vm/stop.ts';
import { vmStatus } from '../../vm/status.ts';
import { MachineLost, machineFor, machineInside, machineOrNone, topMachine, unlessLost } from '../../machine/machine-for.ts';
import { SessionPool } from '../../vm/session-pool.ts';
import { stopAgent } from '../../stats/agent-client.ts';
import { connectPlace, vmTarget } from '../../vm/target.ts';
import { UsageError } from '../../util/errors.ts';
import { withLabLock } from '../../lab/lock.ts';
import { probeHost } from '../../qemu/host-probe.ts';
import { hostKeyAlias, labKeys } from '../../ssh/keys.ts';
import { labStatus } from '../../lab/status.ts';
import { renderStatus } from '../../chart/status-table.ts';
import { releaseSaved, resumeLab, startFrom, suspendedPlaces } from '../../suspend/ops.ts';
import { releaseSavedFor } from '../../suspend/guard.ts';
import { snapshotNameOption } from '../../snapshot/names.ts';

export interface UpStep {
  vm: string;
  parent?: string;
  action: 'booted' | 'kept';
  seconds: number;
  result?: BootResult;
}

/**
 * Boots every VM of the lab that is not running, layer by layer, parents before children, at
 * any depth: each VM on its machine (this host, or inside its parent over one pooled session
 * per parent).  The host's VMs boot in parallel when their memory fits what is free; a
 * parent's children one after another (they share the parent's emulated CPUs).
 */
export async function upLab(
  lab: LabResolved,
  opts: { quiet?: boolean; warn?: (m: string) => void; info?: (m: string) => void; onStep?: (s: UpStep) => void; signal?: AbortSignal } = {},
): Promise<UpStep[]> {
  const steps: UpStep[] = [];
  // A VM booted again (after its parent was) keeps one step: its last.
  const record = (s: UpStep) => {
    const i = steps.findIndex((x) => x.vm === s.vm);
    if (i === -1) steps.push(s);
    else steps[i] = s;
    opts.onStep?.(s);
  };
  const places = [...walkVms(lab.vms)];
  const free = (await probeHost()).freeMemoryMiB;
  const sessions = new SessionPool();
  const session = (p: VmPlace) => sessions.get(lab, p, 10_000);
  const bootOne = async (machine: Machine, p: VmPlace, quiet: boolean) => {
    const t0 = Date.now();
    const live = await vmStatus(machine, lab, p);
    if (live.state === 'running') return record({ vm: p.vm.name, parent: p.parent?.name, action: 'kept', seconds: 0 });
    if (opts.signal?.aborted) throw new UsageError('interrupted');
    // A parent's boot hands its SSH session to the pool its children are booted through.
    const keepSession = p.vm.children.length ? (g: Guest) => sessions.adopt(p.vm.name, g) : undefined;
    const result = await bootVm(machine, lab, p, { quiet, warn: opts.warn, signal: opts.signal, checked: live.state === 'stopped', keepSession });
    record({ vm: p.vm.name, parent: p.parent?.name, action: 'booted', seconds: (Date.now() - t0) / 1000, result });
  };
  const bootGroup = async (group: VmPlace[]) => {
    // Each VM's own machine: siblings at the top may run on this host, its libvirtd and a server's.
    const machines = await Promise.all(group.map((p) => machineFor(lab, p, session)));
    const parallel = !group[0]!.parent && group.length > 1 && group.reduce((sum, p) => sum + p.vm.memory, 0) < free * 0.8;
    if (parallel) await Promise.all(group.map((p, i) => bootOne(machines[i]!, p, true)));
    else for (const [i, p] of group.entries()) await bootOne(machines[i]!, p, opts.quiet === true);
  };
  // A parent this `up` booted that is lost while its children boot (under TCG's emulated SVM a
  // Debian parent's kernel can panic while it runs a child's KVM) boots once more, and its
  // children after it: a cold boot loses nothing that the panicked kernel had not.
  const again = new Set<string>();
  const bootGroupOrParentAgain = async (group: VmPlace[]) => {
    try {
      await bootGroup(group);
    } catch (err) {
      if (!(err instanceof ParentLost)) throw err;
      const parent = findVm(lab, err.parent);
      if (!parent || again.has(parent.vm.name) || steps.find((s) => s.vm === parent.vm.name)?.action !== 'booted') throw err;
      again.add(parent.vm.name);
      opts.warn?.(`${err.message.split('\n')[0]}; booting ${parent.vm.name} again, once, then its children`);
      sessions.drop(parent.vm.name, 'its guest was lost');
      const machine = await machineFor(lab, parent, session);
      await stopVm(machine, lab, parent, { graceful: false });
      await bootOne(machine, parent, opts.quiet === true);
      await bootGroup(group);
    }
  };
  try {
    for (let depth = 1; depth <= Math.max(0, ...places.map((p) => p.depth)); depth++)
      await Promise.all(groupByParent(places.filter((p) => p.depth === depth)).map(bootGroupOrParentAgain));
  } finally {
    sessions.closeAll();
  }
  return steps;
}

/** Siblings together: the host's VMs in one group, each parent's children in one. */
function groupByParent(places: VmPlace[]): VmPlace[][] {
  const m = new Map<string, VmPlace[]>();
  for (const p of places) m.set(p.parent?.name ?? '', [...(m.get(p.parent?.name ?? '') ?? []), p]);
  return [...m.values()];
}

export interface DownStep {
  vm: string;
  how: string;
}

/**
 * Stops every VM, deepest first.  A child whose parent is unreachable is recorded stopped: its
 * QEMU runs inside the parent and ends with it.  So is one whose parent stops answering, or is
 * lost (its kernel panicked: seen in CI under TCG's emulated SVM), while the child is being
 * stopped, when that parent is stopped next in this run (or with `force`): `down` must not
 * end half way with the lab still running.
 */
export async function downLab(lab: LabResolved, opts: { force?: boolean; onStep?: (s: DownStep) => void; only?: Set<string> } = {}): Promise<DownStep[]> {
  const steps: DownStep[] = [];
  const goesDown = (name: string) => !opts.only || opts.only.has(name);
  const places = [...walkVms(lab.vms)].filter((p) => goesDown(p.vm.name));
  // The stats agent's sessions would only see their guests go away: end it first.
  if (!opts.only) await stopAgent(lab.name);
  const sessions = new SessionPool();
  try {
    for (let depth = Math.max(0, ...places.map((p) => p.depth)); depth >= 1; depth--) {
      await Promise.all(
        places
          .filter((p) => p.depth === depth)
          .map(async (p) => {
            const machine = await machineOrNone(lab, p, (parent) => sessions.get(lab, parent, 10_000));
            const how = await unlessLost(machine, stopVm(machine, lab, p, { graceful: !opts.force })).catch(async (err) => {
              if (!p.parent || !(opts.force || goesDown(p.parent.name))) throw err;
              const why = err instanceof MachineLost ? err.message : `${p.parent.name} stopped answering: ${(err as Error).message}`;
              return `${await stopVm(undefined, lab, p, { graceful: false })} (${why})`;
            });
            const step = { vm: p.vm.name, how };
            steps.push(step);
            opts.onStep?.(step);
          }),
      );
    }
  } finally {
    sessions.closeAll();
  }
  return steps;
}

/** After down: each top-level VM its machine keeps a record of (a libvirt domain) is forgotten there, disks and all. */
async function forgetLab(lab: LabResolved): Promise<DownStep[]> {
  const steps: DownStep[] = [];
  for (const place of walkVms(lab.vms)) {
    if (place.parent) continue;
    const machine = await topMachine(lab, place);
    const how = await machine.forget?.(machine.ref(lab, place));
    if (how) steps.push({ vm: place.vm.name, how });
  }
  return steps;
}

export async function up(ctx: TaskContext): Promise<number | void> {
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  if (snapshotNameOption(ctx.opts, 'from') !== undefined && ctx.opts.cold === true)
    throw new UsageError('--from and --cold ask for different starts; pick one');
  return withLabLock(lab.name, 'up', () => upLocked(ctx, lab), { say: ctx.out.info });
}

/**
 * Before the cold boots: a suspended lab resumes (or, with --cold, boots cold and keeps its
 * saved state as a snapshot); --from starts the stopped lab from a lab-wide snapshot.
 */
async function startSaved(ctx: TaskContext, lab: LabResolved): Promise<void> {
  const from = ctx.opts.from as string | undefined;
  const saved = suspendedPlaces(lab).map((s) => s.saved.snapshot);
  const report = (r: Awaited<ReturnType<typeof resumeLab>>, how: string) => {
    for (const s of r.steps) ctx.out.event({ event: how, lab: lab.name, vm: s.vm, snapshot: s.snapshot, seconds: s.seconds });
    for (const l of r.layers) ctx.out.info(`${l.vm}: answers at ${l.readyS.toFixed(1)} s, clock set (was ${l.clockBehindS} s behind)`);
  };
  if (from) {
    await releaseSavedFor(ctx, lab, `up --from ${from}`, { remove: !saved.includes(from) });
    return report(await startFrom(lab, from, { quiet: ctx.quiet, warn: ctx.out.warn, info: ctx.out.info }), 'started-from');
  }
  if (!saved.length) return;
  if (ctx.opts.cold === true) {
    // A managed save cannot stay as a snapshot (libvirt would load it at the start): booting cold discards it, so that is asked first.
    const released = suspendedPlaces(lab).some((s) => s.saved.managed)
      ? await releaseSavedFor(ctx, lab, 'up --cold', { remove: false })
      : await releaseSaved(lab, false);
    const kept = [...new Set(released.filter((g) => !g.discarded).map((g) => g.snapshot))];
    if (kept.length)
      ctx.out.info(`${lab.name} boots cold; its saved state stays as snapshot ${kept.join(', ')} (restore ${lab.name} NAME, or up --from NAME, loads it)`);
    return;
  }
  ctx.out.info(`${lab.name} is suspended: resuming it (up --cold boots it cold instead)`);
  report(await resumeLab(lab, { quiet: ctx.quiet, warn: ctx.out.warn, info: ctx.out.info }), 'resumed');
}

/**
 * Ctrl-C during `up` stops what this run started — the VM booting stops at its next check
 * and its QEMU is stopped; VMs this run already booted go down; VMs that were running
 * before are left alone — and exits 130.  A second Ctrl-C leaves at once.
 */
async function upLocked(ctx: TaskContext, lab: LabResolved): Promise<number | void> {
  const t0 = Date.now();
  const abort = new AbortController();
  const started = new Set<string>();
  let sigints = 0;
  const onSigint = () => {
    if (++sigints > 1) process.exit(130);
    ctx.out.warn(`interrupted: stopping what this \`up\` started (Ctrl-C again to leave it)`);
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  let steps: UpStep[];
  await startSaved(ctx, lab);
  try {
    // --json: JSON Lines, a `step` record as each VM comes up, then one `done` record.
    steps = await upLab(lab, {
      quiet: ctx.quiet,
      warn: ctx.out.warn,
      signal: abort.signal,
      onStep: (s) => {
        if (s.action === 'booted') started.add(s.vm);
        ctx.out.event({ event: 'step', lab: lab.name, ...s });
      },
    });
  } catch (err) {
    if (!abort.signal.aborted) throw err;
    const down = await downLab(lab, { force: true, only: started });
    ctx.out.event({ event: 'interrupted', lab: lab.name, stopped: down });
    ctx.out.info(`interrupted; stopped ${down.map((d) => d.vm).join(', ') || 'nothing else'}`);
    return 130;
  } finally {
    process.off('SIGINT', onSigint);
  }
  const rows = await labStatus(lab);
  const total = (Date.now() - t0) / 1000;
  if (ctx.json) return ctx.out.event({ event: 'done', lab: lab.name, seconds: total, steps, status: rows });
  ctx.out.result({ lab: lab.name, seconds: total, steps, status: rows }, () =>
    [
      ...steps.map((s) => `${s.vm}: ${s.action}${s.action === 'booted' ? ` in ${s.seconds.toFixed(1)} s (accel ${s.result?.accel})` : ''}`),
      `${lab.name} up in ${total.toFixed(1)} s`,
      '',
      renderStatus(rows),
    ].join('\n'),
  );
}

export async function down(ctx: TaskContext): Promise<void> {
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  const steps = await withLabLock(
    lab.name,
    'down',
    async () => {
      // A suspended lab runs nothing, but its saved state is a lab someone may want back.
      await releaseSavedFor(ctx, lab, 'down', { remove: true });
      const steps = await downLab(lab, { force: ctx.opts.force === true, onStep: (s) => ctx.out.event({ event: 'step', lab: lab.name, ...s }) });
      return ctx.opts.undefine === true ? [...steps, ...(await forgetLab(lab))] : steps;
    },
    { say: ctx.out.info },
  );
  if (ctx.json) return ctx.out.event({ event: 'done', lab: lab.name, steps });
  ctx.out.result({ lab: lab.name, steps }, () => steps.map((s) => `${s.vm}: ${s.how}`).join('\n'));
}

export async function nest(ctx: TaskContext): Promise<void> {
  const [parentName, childName] = ctx.args as [string, string];
  const t = await vmTarget(ctx, childName);
  if (t.place.parent?.name !== parentName)
    throw new UsageError(
      `${childName} is not a child of ${parentName} in lab ${t.lab.name}${t.place.parent ? ` (its parent is ${t.place.parent.name})` : ' (it runs on the host)'}`,
    );
  const parent = await connectPlace(t.lab, findVm(t.lab, parentName)!);
  try {
    const machine = machineInside(parent, parentName);
    const r = await withLabLock(t.lab.name, `nest ${childName}`, () => bootVm(machine, t.lab, t.place, { quiet: ctx.quiet, warn: ctx.out.warn }), {
      say: ctx.out.info,
    });
    ctx.out.result(
      r,
      () =>
        `${r.vm} is up inside ${parentName} (pid ${r.pid} there, accel ${r.accel})\n  ${r.uname}\n  QMP ${r.metrics.qmpS} s · banner ${r.metrics.bannerS} s · SSH ${r.metrics.sshS} s after launch`,
    );
  } finally {
    parent.close();
  }
}

/** OpenSSH config for every VM of a lab: nested ones through ProxyJump, keys pinned by alias. */
export function sshConfig(lab: LabResolved): string {
  const keys = labKeys(lab.name);
  const blocks: string[] = [`# grainchart lab ${lab.name}: ssh -F <this file> VM`];
  for (const { vm, parent } of walkVms(lab.vms)) {
    if (vm.network.sshPort === undefined) continue;
    blocks.push(
      [
        `Host ${vm.name}`,
        `  HostName ${parent ? '127.0.0.1' : vm.network.bind}`,
        `  Port ${vm.network.sshPort}`,
        `  User ${vm.ssh.user}`,
        `  IdentityFile ${keys.privateKeyPath}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${keys.knownHostsPath}`,
        `  HostKeyAlias ${hostKeyAlias(lab.name, vm.name)}`,
        '  StrictHostKeyChecking yes',
        ...(parent ? [`  ProxyJump ${parent.name}`] : []),
      ].join('\n'),
    );
  }
  return `${blocks.join('\n\n')}\n`;
}

export async function sshConfigTask(ctx: TaskContext): Promise<void> {
  const lab = await loadLab(ctx.args[0], { spec: ctx.spec });
  const text = sshConfig(lab);
  ctx.out.result({ lab: lab.name, config: text }, () => text.trimEnd());
}
