// A lab's reading in Prometheus' text exposition format (version 0.0.4), as libvirt's exporter
// gives a host's domains: one series per VM and figure, labelled by lab and VM; the VM's place
// (parent, layer, machine) on an info series, its state as one series per state (1 for the
// one it is in), counters with _total.  Grafana then draws nested labs as it draws libvirt's.
import type { LabFrame, VmView } from './frame.ts';

const STATES = ['running', 'booting', 'stopped', 'crashed', 'suspended'];

/** A label value, escaped as the format asks: backslash, double quote, newline. */
export const labelValue = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

const labels = (l: Record<string, string>) =>
  `{${Object.entries(l)
    .map(([k, v]) => `${k}="${labelValue(v)}"`)
    .join(',')}}`;

interface Family {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  value: (v: VmView) => number | undefined;
}

const FAMILIES: Family[] = [
  { name: 'grainchart_vm_vcpus', type: 'gauge', help: 'vCPUs the spec gives the VM', value: (v) => v.vcpus },
  { name: 'grainchart_vm_memory_bytes', type: 'gauge', help: 'memory the spec gives the VM', value: (v) => v.memoryBytes },
  { name: 'grainchart_vm_memory_used_bytes', type: 'gauge', help: 'memory the guest uses (total less available)', value: (v) => v.memUsedBytes },
  {
    name: 'grainchart_vm_cpu_busy_ratio',
    type: 'gauge',
    help: 'the guest CPU busy over the last window, 0 to 1',
    value: (v) => (v.cpuPercent === undefined ? undefined : v.cpuPercent / 100),
  },
  { name: 'grainchart_vm_cpu_seconds_total', type: 'counter', help: 'CPU time of the VM QEMU process since it started', value: (v) => v.qemuCpuSeconds },
  { name: 'grainchart_vm_qemu_resident_bytes', type: 'gauge', help: 'resident memory of the VM QEMU process', value: (v) => v.rssBytes },
  { name: 'grainchart_vm_disk_virtual_bytes', type: 'gauge', help: 'virtual size of the root disk', value: (v) => v.diskVirtualBytes },
  { name: 'grainchart_vm_disk_allocated_bytes', type: 'gauge', help: 'bytes the root disk file takes', value: (v) => v.diskAllocatedBytes },
  { name: 'grainchart_vm_root_used_bytes', type: 'gauge', help: 'bytes used on the guest root filesystem', value: (v) => v.rootUsedBytes },
  { name: 'grainchart_vm_disk_read_bytes_total', type: 'counter', help: 'bytes the VM read from its disks', value: (v) => v.diskReadBytes },
  { name: 'grainchart_vm_disk_written_bytes_total', type: 'counter', help: 'bytes the VM wrote to its disks', value: (v) => v.diskWrittenBytes },
  {
    name: 'grainchart_vm_network_receive_bytes_total',
    type: 'counter',
    help: 'bytes the guest received, every interface but loopback',
    value: (v) => v.netRxBytes,
  },
  {
    name: 'grainchart_vm_network_transmit_bytes_total',
    type: 'counter',
    help: 'bytes the guest sent, every interface but loopback',
    value: (v) => v.netTxBytes,
  },
  {
    name: 'grainchart_vm_ssh_rtt_seconds',
    type: 'gauge',
    help: 'round trip of an SSH command to the guest',
    value: (v) => (v.sshRttMs === undefined ? undefined : v.sshRttMs / 1000),
  },
];

const num = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(12).replace(/\.?0+$/, ''));

/** The exposition text of one reading. */
export function prometheusText(f: LabFrame, serve?: { readings: number; readSeconds: number; clients: number }): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string, lines: string[]) => {
    if (!lines.length) return;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
  };
  const id = (v: VmView) => ({ lab: f.lab, vm: v.name });
  family(
    'grainchart_vm_info',
    'gauge',
    'a VM of the lab: its parent (empty on the host), layer (1 on the host) and the machine its QEMU runs on',
    f.vms.map((v) => `grainchart_vm_info${labels({ ...id(v), parent: v.parent ?? '', layer: String(v.layer), machine: v.machine, accel: v.accel ?? '' })} 1`),
  );
  family(
    'grainchart_vm_state',
    'gauge',
    'the VM state: 1 for the state it is in, 0 for the others',
    f.vms.flatMap((v) => STATES.map((s) => `grainchart_vm_state${labels({ ...id(v), state: s })} ${v.state === s ? 1 : 0}`)),
  );
  for (const fam of FAMILIES)
    family(
      fam.name,
      fam.type,
      fam.help,
      f.vms.flatMap((v) => {
        const x = fam.value(v);
        return x === undefined || !Number.isFinite(x) ? [] : [`${fam.name}${labels(id(v))} ${num(x)}`];
      }),
    );
  if (serve) {
    family('grainchart_serve_readings_total', 'counter', 'readings of the lab this server made (one per interval, whatever the number of clients)', [
      `grainchart_serve_readings_total${labels({ lab: f.lab })} ${serve.readings}`,
    ]);
    family('grainchart_serve_reading_seconds', 'gauge', 'how long the last reading took', [
      `grainchart_serve_reading_seconds${labels({ lab: f.lab })} ${num(serve.readSeconds)}`,
    ]);
    family('grainchart_serve_clients', 'gauge', 'browsers following the live page now', [`grainchart_serve_clients${labels({ lab: f.lab })} ${serve.clients}`]);
  }
  return `${out.join('\n')}\n`;
}
