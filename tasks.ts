// The task registry: thin data, one entry per task, each importing its module only when
// it runs, so listing tasks loads no ssh2, listr2 or zx.  Run: npx tsx tasks.ts [TASK] [--help]
import { pathToFileURL } from 'node:url';
import { main } from './tasks/kit/cli.ts';
import type { TaskDef } from './tasks/kit/registry.ts';

const lab = { name: 'LAB', doc: 'a lab name from specs/, or a spec file' };
const vm = { name: 'VM', doc: 'a VM name from any lab in specs/ (or the --spec/--lab one)' };
const labOpt = { name: 'lab', type: 'string', doc: 'the lab to look the VM up in, when names clash' } as const;

export const tasks: TaskDef[] = [
  {
    name: 'tasks',
    doc: 'List the tasks',
    run: async (ctx) => (await import('./tasks/list.ts')).run(ctx, tasks),
  },
  {
    name: 'demo',
    doc: 'Show the embedded default lab and what this machine can run of it',
    run: async (ctx) => (await import('./tasks/demo.ts')).run(ctx),
  },
  {
    name: 'spec',
    doc: 'Print a lab spec with every default filled in (--json output is accepted back by --spec -)',
    args: [{ ...lab, optional: true }],
    run: async (ctx) => (await import('./tasks/spec.ts')).run(ctx),
  },
  {
    name: 'labs',
    doc: 'List the labs in specs/',
    run: async (ctx) => (await import('./tasks/spec.ts')).runLabs(ctx),
  },
  {
    name: 'doctor',
    doc: 'Check this host: QEMU, qemu-img, KVM usability, nesting, memory and disk',
    run: async (ctx) => (await import('./tasks/doctor.ts')).run(ctx),
  },
  {
    name: 'disk-create',
    doc: "Create a VM's disk image with qemu-img (size, format, backing file from the spec)",
    args: [vm],
    options: [labOpt, { name: 'force', type: 'boolean', doc: 'replace an existing image (its data is lost)' }],
    run: async (ctx) => (await import('./tasks/disk.ts')).create(ctx),
  },
  {
    name: 'disk-info',
    doc: "Show a VM's disk image (qemu-img info; works while the VM runs)",
    args: [vm],
    options: [labOpt],
    run: async (ctx) => (await import('./tasks/disk.ts')).info(ctx),
  },
];

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(tasks);
