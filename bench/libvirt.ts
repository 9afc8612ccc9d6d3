// libvirt: the same tiny guest booted through this host's libvirtd (a domain defined from the
// kit's plan, `virsh start`) against the kit's own QEMU, launch → `uname -a` over SSH, from a
// fresh overlay each time; then `chart-vm VM --no-agent` as typed against each, the guest up.
// Runs alternate, so both see the same machine.  Needs libvirtd (scripts/setup-host.sh --libvirt).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveLab } from '../tasks/spec/resolve.ts';
import { findVm, type LabResolved } from '../tasks/spec/tree.ts';
import { localHostFacts } from '../tasks/spec/load.ts';
import { bootVm } from '../tasks/vm/boot.ts';
import { topMachine } from '../tasks/machine/machine-for.ts';
import { PROJECT_ROOT } from '../tasks/util/paths.ts';
import { stopVm } from '../tasks/vm/stop.ts';
import { downLab } from '../tasks/lab/down.ts';
import { upLab } from '../tasks/lab/up.ts';
import { resumeLab } from '../tasks/suspend/resume.ts';
import { suspendLab } from '../tasks/suspend/ops.ts';
import { timeIt, type Row } from './stats.ts';

export async function benchLibvirt(runs = 5, port = 10532): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-libvirt-'));
  process.env.GRAINCHART_HOME = home;
  const spec = (name: string, host: object) => ({
    name,
    host,
    vms: [{ name: 'b1', cpus: 1, memory: 512, boot: { image: 'tiny', root: 'disk' }, vga: 'none', network: { sshPort: port } }],
  });
  const labs = { kit: spec('benchk', {}), libvirt: spec('benchl', { libvirt: { uri: 'qemu:///system' } }) };
  const files = Object.fromEntries(Object.keys(labs).map((k) => [k, join(home, `${k}.json`)]));
  for (const [k, s] of Object.entries(labs)) writeFileSync(files[k]!, JSON.stringify(s));
  const chart = (file: string) => async () =>
    execFileSync(process.execPath, ['--import', 'tsx', 'tasks.ts', '--spec', file, 'chart-vm', 'b1', '--no-agent'], {
      cwd: PROJECT_ROOT,
      stdio: 'ignore',
      env: { ...process.env, GRAINCHART_HOME: home },
    });
  const boots = { kit: [] as number[], libvirt: [] as number[] };
  const charts = { kit: [] as number[], libvirt: [] as number[] };
  const resolved: Record<string, LabResolved> = Object.fromEntries(Object.entries(labs).map(([k, s]) => [k, resolveLab(s, localHostFacts(), k)]));
  try {
    for (let i = 0; i < runs; i++)
      for (const k of ['kit', 'libvirt'] as const) {
        const lab = resolved[k]!;
        const place = findVm(lab, 'b1')!;
        const machine = await topMachine(lab, place);
        boots[k].push(await timeIt(() => bootVm(machine, lab, place, { quiet: true, fresh: true })));
        charts[k].push(await timeIt(chart(files[k]!)));
        await stopVm(machine, lab, place, { graceful: false });
      }
    return [
      { name: 'kit QEMU boot → uname (tiny, TCG)', samples: boots.kit },
      { name: 'libvirt boot → uname (same guest)', samples: boots.libvirt, baseline: 'kit QEMU boot → uname (tiny, TCG)', goal: '≤ 1.10×' },
      { name: 'chart-vm b1 --no-agent, kit QEMU (wall)', samples: charts.kit },
      { name: 'chart-vm b1 --no-agent, libvirt (wall)', samples: charts.libvirt, baseline: 'chart-vm b1 --no-agent, kit QEMU (wall)', goal: '≤ 1.0×' },
    ];
  } finally {
    for (const [k, lab] of Object.entries(resolved)) {
      const place = findVm(lab, 'b1')!;
      const machine = await topMachine(lab, place);
      await stopVm(machine, lab, place, { graceful: false }).catch(() => undefined);
      if (k === 'libvirt') await machine.forget?.(machine.ref(lab, place)).catch(() => undefined);
    }
    rmSync(home, { recursive: true, force: true });
  }
}

/**
 * A nested lab (tiny-nest with a tiny child inside) suspended and resumed: with the parent on
 * libvirt (managed save, `virsh start` loads it) against the kit's own QEMU (a live snapshot
 * in the qcow2, `-loadvm`), alternating; resume ends when the child answers `uname -a`.
 */
export async function benchLibvirtSuspend(runs = 5, port = 10542): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-libvirt-susp-'));
  process.env.GRAINCHART_HOME = home;
  const spec = (name: string, host: object) => ({
    name,
    host,
    vms: [
      {
        name: 'p',
        cpus: 2,
        memory: 1536,
        boot: { image: 'tiny-nest' },
        vga: 'none',
        network: { sshPort: port },
        children: [{ name: 'c', cpus: 1, memory: 512, boot: { image: 'tiny' }, vga: 'none', network: { sshPort: 2224 } }],
      },
    ],
  });
  const labs: Record<'kit' | 'libvirt', LabResolved> = {
    kit: resolveLab(spec('benchsk', {}), localHostFacts(), 'kit'),
    libvirt: resolveLab(spec('benchsl', { libvirt: { uri: 'qemu:///system' } }), localHostFacts(), 'libvirt'),
  };
  const quiet = { info: () => undefined, warn: () => undefined };
  const suspend = { kit: [] as number[], libvirt: [] as number[] };
  const resume = { kit: [] as number[], libvirt: [] as number[] };
  try {
    for (let i = 0; i < runs; i++)
      for (const k of ['kit', 'libvirt'] as const) {
        const lab = labs[k];
        await upLab(lab, { quiet: true });
        suspend[k].push(await timeIt(() => suspendLab(lab, quiet)));
        // resumeLab returns once every layer ran `uname -a` and had its clock set.
        resume[k].push(await timeIt(() => resumeLab(lab, { quiet: true })));
        await downLab(lab, { force: true });
        console.error(`libvirt suspend run ${i + 1} ${k}: suspend ${suspend[k].at(-1)!.toFixed(2)} s, resume ${resume[k].at(-1)!.toFixed(2)} s`);
      }
    return [
      { name: 'kit QEMU: suspend p (live snapshot in the qcow2, c inside)', samples: suspend.kit },
      { name: 'libvirt: suspend p (managed save, c inside)', samples: suspend.libvirt, baseline: 'kit QEMU: suspend p (live snapshot in the qcow2, c inside)' },
      { name: 'kit QEMU: resume → c uname (-loadvm)', samples: resume.kit },
      { name: 'libvirt: resume → c uname (virsh start loads the managed save)', samples: resume.libvirt, baseline: 'kit QEMU: resume → c uname (-loadvm)' },
    ];
  } finally {
    for (const lab of Object.values(labs)) {
      await downLab(lab, { force: true }).catch(() => undefined);
      const place = findVm(lab, 'p')!;
      const machine = await topMachine(lab, place);
      await machine.forget?.(machine.ref(lab, place)).catch(() => undefined);
    }
    rmSync(home, { recursive: true, force: true });
  }
}
