// The JSON the tasks print, as zod schemas: `schema NAME` publishes them as JSON Schema,
// the tests parse real output with them, and the type checks below fail the build when a
// TypeScript interface and its schema drift apart.
import { z } from 'zod';
import type { VmStatus } from '../vm/status.ts';
import type { VmStats } from '../stats/figures.ts';
import type { SnapshotInfo } from '../snapshot/ops.ts';
import { NAKSHATRAS, SIGNS } from '../graintime/names.ts';

const Forward = z.strictObject({ proto: z.string().describe('tcp or udp'), bind: z.string(), host: z.number().int(), guest: z.number().int() });
const Metrics = z.strictObject({
  qmpS: z.number().optional(),
  portS: z.number().optional(),
  bannerS: z.number().optional(),
  sshS: z.number().optional(),
  retries: z
    .array(z.strictObject({ stage: z.string(), times: z.number(), reason: z.string() }))
    .optional()
    .describe('stages that met a dropped SSH connection and went on over a new one'),
  bootedAgain: z.string().optional().describe('the first try’s failure, when the boot was tried once more (a kernel panic, a hang)'),
});

export const StatusRow = z
  .strictObject({
    lab: z.string(),
    name: z.string(),
    parent: z.string().optional().describe('the VM this one runs inside; absent for guests of the host'),
    depth: z.number().int().min(1).describe('1: a guest of the host, 2: nested, …'),
    state: z.enum(['running', 'booting', 'stopped', 'crashed', 'suspended']),
    reason: z.string().optional().describe('why it is not running, when known'),
    pid: z.number().int().optional().describe('QEMU’s pid, in the parent for nested VMs'),
    accel: z.string().optional(),
    qmpStatus: z.string().optional(),
    domstate: z.string().optional().describe('libvirt’s word on the domain, as `virsh domstate --reason` says it (VMs on libvirt)'),
    forwards: z.array(Forward),
    uptimeS: z.number().optional(),
    metrics: Metrics.optional().describe('seconds from launch to each readiness stage of the last boot'),
    savedBytes: z.number().optional().describe('a suspended top-level VM: bytes its saved state takes on disk'),
  })
  .describe('one VM’s live state (status --json prints an array)');
export const Status = z.array(StatusRow);

const reading = <T extends z.ZodType>(value: T) =>
  z.union([z.strictObject({ ok: z.literal(true), value }), z.strictObject({ ok: z.literal(false), reason: z.string() })]);
export const VmStatsShape = z
  .strictObject({
    lab: z.string(),
    name: z.string(),
    title: z.string().optional(),
    parent: z.string().optional(),
    depth: z.number().int(),
    state: z.enum(['running', 'booting', 'stopped', 'crashed', 'suspended']),
    accel: z.string().optional(),
    figuresFrom: z.literal('libvirt domstats').optional().describe('where host, balloon and block figures come from when not QEMU’s /proc and QMP'),
    cpus: z.number().int(),
    memoryMiB: z.number(),
    forwards: z.array(Forward).describe('what the spec forwards to it, running or not'),
    diskSizeBytes: z.number().optional().describe('the root disk’s size as the spec gives it'),
    savedBytes: z.number().optional().describe('a suspended top-level VM: bytes its saved state takes on disk'),
    host: reading(
      z.strictObject({ cpuPercent: z.number(), cpuSeconds: z.number().optional(), rssMiB: z.number(), vcpuPercent: z.array(z.number()).optional() }),
    ),
    qmp: reading(
      z.strictObject({ status: z.string(), balloonMiB: z.number().optional(), readBytes: z.number().optional(), writtenBytes: z.number().optional() }),
    ),
    disk: reading(z.strictObject({ virtualBytes: z.number(), allocatedBytes: z.number().optional() })),
    guest: reading(
      z.strictObject({
        cpuBusyPercent: z.number(),
        memTotalMiB: z.number(),
        memAvailableMiB: z.number(),
        rootTotalMiB: z.number(),
        rootUsedMiB: z.number(),
        load1: z.number(),
        uptimeS: z.number(),
        netRxBytes: z.number().optional().describe('bytes received over every interface but loopback since the guest booted'),
        netTxBytes: z.number().optional().describe('bytes sent over every interface but loopback since the guest booted'),
      }),
    ),
    network: reading(z.strictObject({ port: z.number().optional(), open: z.boolean(), sshRttMs: z.number().optional() })),
  })
  .describe('one VM’s live resources; each source is {ok, value} or {ok: false, reason}');
export const Stats = z.array(VmStatsShape).describe('chart-vm --json: one entry per VM; watch --json streams {time, lab, vms: [these]} per line');

const StampFieldsShape = z.strictObject({
  holoceneYear: z.number().int(),
  month: z.number().int(),
  day: z.number().int(),
  hour: z.number().int(),
  minute: z.number().int(),
  zone: z.string(),
  moon: z.enum(NAKSHATRAS),
  ascSign: z.enum(SIGNS),
  ascDegree: z.number().int(),
  sunHouse: z.number().int(),
  author: z.string(),
});
export const SnapshotShape = z
  .strictObject({
    lab: z.string(),
    vm: z.string(),
    name: z.string(),
    date: z.string().describe('when QEMU recorded it, ISO-8601 UTC'),
    stamp: z.strictObject({ fields: StampFieldsShape, date: z.string() }).nullable().describe('the graintime the name spells, decoded; null for other names'),
    vmStateSize: z.number().describe('bytes of RAM and device state; 0 for a disk-only (offline) snapshot'),
    diskSize: z.number().describe('virtual size of the disks it covers'),
    ageS: z.number(),
    complete: z.boolean().describe('present on every disk of the VM'),
  })
  .describe('one snapshot of one VM');
export const Snapshots = z.array(SnapshotShape);

export { Lab as Spec } from '../spec/schema.ts';

// Compile-time: each schema's type is exactly the interface the code uses.
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <T extends true>(_: T) => undefined;
same<Equals<z.infer<typeof StatusRow>, VmStatus>>(true);
same<Equals<z.infer<typeof VmStatsShape>, VmStats>>(true);
same<Equals<z.infer<typeof SnapshotShape>, SnapshotInfo>>(true);
