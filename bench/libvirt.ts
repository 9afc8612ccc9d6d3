// libvirt: the same tiny guest booted through this host's libvirtd (a domain defined from the
// kit's plan, `virsh start`) against the kit's own QEMU, launch → `uname -a` over SSH, from a
// fresh overlay each time; then `chart-vm VM --no-agent` as typed against each, the guest up.
// Runs alternate, so both see the same machine.  Needs libvirtd (scripts/setup-host.sh --libvirt).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveLab, findVm, type LabResolved } from '../tasks/kit/resolve.ts';
import { localHostFacts } from '../tasks/kit/load.ts';
import { bootVm } from '../tasks/vm/boot.ts';
import { topMachine } from '../tasks/kit/machine-for.ts';
import { PROJECT_ROOT } from '../tasks/kit/paths.ts';
import { stopVm } from '../tasks/kit/stop.ts';
import { timeIt, type Row } from './stats.ts';

export async function benchLibvirt(runs = 5, port = 10532): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-libvirt-'));
  process.env.GRAINCHART_HOME = home;
  const spec = (name: string, host: object) => ({ name, host, vms: [{ name: 'b1', cpus: 1, memory: 512, boot: { image: 'tiny', root: 'disk' }, vga: 'none', network: { sshPort: port } }] });
  const labs = { kit: spec('benchk', {}), libvirt: spec('benchl', { libvirt: { uri: 'qemu:///system' } }) };
  const files = Object.fromEntries(Object.keys(labs).map((k) => [k, join(home, `${k}.json`)]));
  for (const [k, s] of Object.entries(labs)) writeFileSync(files[k]!, JSON.stringify(s));
  const chart = (file: string) => async () => execFileSync(process.execPath, ['--import', 'tsx', 'tasks.ts', '--spec', file, 'chart-vm', 'b1', '--no-agent'], { cwd: PROJECT_ROOT, stdio: 'ignore', env: { ...process.env, GRAINCHART_HOME: home } });
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
