// tasks/snapshot/: snapshots of one VM or a whole lab under one graintime stamp, live or
// offline, at any depth.
//
// The snapshot verbs on one site: live through QMP's snapshot jobs (VM state included)
// when QEMU runs, `qemu-img snapshot` on each disk when it does not.
import { retry } from '../util/retry.ts';
import { TaskError, UsageError } from '../util/errors.ts';
import type { QmpClient } from '../qemu/qmp.ts';
import { decodeName } from './names.ts';
import { isLive, type Site } from './site.ts';

export interface SnapshotInfo {
  lab: string;
  vm: string;
  name: string;
  /** When QEMU recorded it (the qcow2 snapshot's date), ISO-8601 UTC. */
  date: string;
  /** The graintime the name spells, decoded; null for other names. */
  stamp: ReturnType<typeof decodeName>;
  /** Bytes of RAM and device state (0: a disk-only snapshot, taken offline). */
  vmStateSize: number;
  /** The virtual size of the disk(s) it covers. */
  diskSize: number;
  ageS: number;
  /** On every disk of the VM; a partial one (from a failed run) cannot be restored. */
  complete: boolean;
}

interface QemuImgSnapshot {
  id: string;
  name: string;
  'vm-state-size': number;
  'date-sec': number;
  'date-nsec': number;
}

interface DiskSnapshots {
  file: string;
  virtualSize: number;
  snapshots: QemuImgSnapshot[];
}

async function readDisks(site: Site): Promise<DiskSnapshots[]> {
  const out: DiskSnapshots[] = [];
  for (const file of site.disks) {
    // -U: the image may be open in a running QEMU; reading its snapshot table is safe.
    const info = JSON.parse(
      await site.qemuImg(['info', '-U', '--output=json', file]).catch((err) => {
        if (/No such file or directory/.test((err as TaskError).stderr ?? ''))
          throw new TaskError(`${site.place.vm.name} has no disk yet: ${file} does not exist ${site.where}`, { hint: `booting it (or disk-create) makes it` });
        throw new TaskError(`cannot read ${file} (${site.where})`, {
          cause: err,
          hint: site.status.state === 'stopped' ? `has ${site.place.vm.name} ever booted? It makes its root disk on first boot` : undefined,
          stderr: (err as TaskError).stderr,
        });
      }),
    ) as { 'virtual-size': number; snapshots?: QemuImgSnapshot[] };
    out.push({ file, virtualSize: info['virtual-size'], snapshots: info.snapshots ?? [] });
  }
  return out;
}

/** The VM's snapshots, oldest first (by the date QEMU recorded, not by name). */
export async function listSnapshots(site: Site, now = Date.now()): Promise<SnapshotInfo[]> {
  return snapshotInfos(site, await readDisks(site), now);
}

function snapshotInfos(site: Site, disks: DiskSnapshots[], now = Date.now()): SnapshotInfo[] {
  const [first, ...rest] = disks;
  if (!first) return [];
  const diskSize = disks.reduce((s, d) => s + d.virtualSize, 0);
  return first.snapshots
    .map((s) => {
      const ms = s['date-sec'] * 1000 + Math.floor(s['date-nsec'] / 1e6);
      return {
        lab: site.lab.name,
        vm: site.place.vm.name,
        name: s.name,
        date: new Date(ms).toISOString(),
        stamp: decodeName(s.name),
        vmStateSize: s['vm-state-size'],
        diskSize,
        ageS: Math.max(0, Math.round((now - ms) / 1000)),
        complete: rest.every((d) => d.snapshots.some((o) => o.name === s.name)),
      };
    })
    .sort((a, b) => a.date.localeCompare(b.date) || a.name.localeCompare(b.name));
}

export async function snapshotNames(site: Site): Promise<Set<string>> {
  return namesOn(await readDisks(site));
}

/** Every name on any disk, partial snapshots included. */
const namesOn = (disks: DiskSnapshots[]) => new Set(disks.flatMap((d) => d.snapshots.map((s) => s.name)));

export type How = 'live' | 'offline';

export async function saveSnapshot(site: Site, name: string): Promise<How> {
  const taken = await snapshotNames(site);
  if (taken.has(name)) throw new UsageError(`${site.place.vm.name} already has a snapshot named ${name}`, 'choose another --name, or remove it: snapshot-rm');
  if (isLive(site)) {
    await withQmp(site, (q) => snapshotJob(q, 'snapshot-save', name, site));
    return noted(site, name, { saved: true, live: true });
  }
  // Offline, disk by disk; if a later disk fails, the earlier ones are taken back so no
  // half snapshot is left to restore.
  const done: string[] = [];
  try {
    for (const file of site.disks) {
      await site.qemuImg(['snapshot', '-c', name, file]);
      done.push(file);
    }
  } catch (err) {
    for (const file of done) await site.qemuImg(['snapshot', '-d', name, file]).catch(() => undefined);
    throw err;
  }
  return noted(site, name, { saved: true, live: false });
}

/** The machine's own catalogue (libvirt's) told of a change made in the qcow2; a failure there loses nothing made. */
async function noted(site: Site, name: string, change: { saved: boolean; live: boolean }): Promise<How> {
  await site.machine.noteSnapshot?.(site.ref, name, change).catch((err) => {
    throw new TaskError(
      `${site.place.vm.name}'s snapshot ${name} was ${change.saved ? 'made' : 'removed'}, but ${site.where}'s own list of snapshots could not be told: ${(err as Error).message}`,
      {
        hint: change.saved
          ? 'the kit lists and restores it all the same; virsh snapshot-list will not show it'
          : `remove its entry there: virsh snapshot-delete DOMAIN ${name} --metadata`,
        cause: err,
      },
    );
  });
  return change.live ? 'live' : 'offline';
}

export async function loadSnapshot(site: Site, name: string): Promise<How> {
  const list = await listSnapshots(site);
  const hit = list.find((s) => s.name === name);
  if (!hit) throw unknownSnapshot(site, name, list);
  if (!hit.complete)
    throw new TaskError(`${name} is not on every disk of ${site.place.vm.name}; it cannot be restored`, {
      hint: `remove it: npx tsx tasks.ts snapshot-rm ${site.place.vm.name} ${name}`,
    });
  if (isLive(site)) {
    if (hit.vmStateSize === 0)
      throw new UsageError(
        `${name} was taken with ${site.place.vm.name} stopped, so it has no VM state to load into the running VM`,
        `stop it first (npx tsx tasks.ts stop ${site.place.vm.name}), then restore: the next boot starts from that disk`,
      );
    await withQmp(site, (q) => snapshotJob(q, 'snapshot-load', name, site));
    return 'live';
  }
  for (const file of site.disks) await site.qemuImg(['snapshot', '-a', name, file]);
  return 'offline';
}

export async function removeSnapshot(site: Site, name: string): Promise<How> {
  const disks = await readDisks(site);
  if (!namesOn(disks).has(name)) throw unknownSnapshot(site, name, snapshotInfos(site, disks));
  if (isLive(site)) {
    await withQmp(site, (q) => snapshotJob(q, 'snapshot-delete', name, site));
    return noted(site, name, { saved: false, live: true });
  }
  for (const file of site.disks)
    await site.qemuImg(['snapshot', '-d', name, file]).catch((err) => {
      // Already gone from this disk (a partial snapshot): nothing to remove there.
      if (!/not found|Can't find/i.test((err as TaskError).stderr ?? '')) throw err;
    });
  return noted(site, name, { saved: false, live: false });
}

export function unknownSnapshot(site: Site, name: string, list: SnapshotInfo[]): UsageError {
  return new UsageError(
    `${site.place.vm.name} has no snapshot named ${name}`,
    list.length ? `its snapshots: ${list.map((s) => s.name).join(', ')}` : `it has none; make one: npx tsx tasks.ts snapshot ${site.place.vm.name}`,
  );
}

async function withQmp<T>(site: Site, fn: (q: QmpClient) => Promise<T>): Promise<T> {
  const q = await site.qmp();
  try {
    return await fn(q);
  } finally {
    q.close();
  }
}

interface BlockInfo {
  device: string;
  qdev?: string;
  inserted?: { 'node-name': string; file: string; ro: boolean; drv: string };
}

let jobCounter = 0;

/**
 * Runs snapshot-save/-load/-delete as a QMP job over every writable disk (QEMU ≥ 6.0),
 * the VM state in the first, and waits for it to conclude.  A job reports its failure in
 * query-jobs, not in the command's answer.
 */
async function snapshotJob(
  q: QmpClient,
  command: 'snapshot-save' | 'snapshot-load' | 'snapshot-delete',
  tag: string,
  site: Site,
  timeoutMs = 300_000,
): Promise<void> {
  const blocks = await q.execute<BlockInfo[]>('query-block');
  const writable = blocks.filter((b) => b.inserted && !b.inserted.ro);
  const other = writable.find((b) => b.inserted!.drv !== 'qcow2');
  if (other)
    throw new UsageError(`${site.place.vm.name}'s drive ${other.device} (${other.inserted!.file}) is ${other.inserted!.drv}; only qcow2 holds snapshots`);
  // The VM state goes to a real disk, not the small UEFI variable flash (pflash1).
  writable.sort((a, b) => Number(a.device.startsWith('pflash')) - Number(b.device.startsWith('pflash')));
  const nodes = writable.map((b) => b.inserted!['node-name']);
  if (!nodes.length) throw new UsageError(`${site.place.vm.name} has no writable disk in QEMU to hold a snapshot`);
  const id = `gc-${command}-${process.pid}-${++jobCounter}`;
  const args: Record<string, unknown> = { 'job-id': id, tag, devices: nodes };
  if (command !== 'snapshot-delete') args.vmstate = nodes[0];
  // The job runs in QEMU's main loop, which also answers QMP: while it writes the VM state
  // no answer comes, so each command may wait for the whole job.
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1000, deadline - Date.now());
  await q.execute(command, args, left());
  try {
    await retry(
      async () => {
        const job = (await q.execute<{ id: string; status: string; error?: string }[]>('query-jobs', undefined, left())).find((j) => j.id === id);
        if (!job) throw new TaskError(`QMP ${command} job ${id} disappeared`);
        if (job.status !== 'concluded') throw new Error(`the job is ${job.status}`);
        if (job.error)
          throw new TaskError(`${command} of ${tag} failed in ${site.place.vm.name}: ${job.error}`, {
            hint: 'is the disk full? see qemu.stderr in the VM state folder',
          });
        return true;
      },
      {
        what: `${command} of ${tag} in ${site.place.vm.name}`,
        timeoutMs: Math.max(0, deadline - Date.now()),
        intervalMs: 20,
        fatal: (err) => err instanceof TaskError,
        hint: 'a large VM state under TCG is slow to write; the job goes on in QEMU (query-jobs)',
      },
    );
  } finally {
    await q.execute('job-dismiss', { id }).catch(() => undefined);
  }
}
