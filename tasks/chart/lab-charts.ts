// The lab charts that need no guest statistics: the hierarchy tree, the allocation of
// the host's CPUs, memory and disk, and the network topology.  Pure: (lab, host, live
// status) → data → text; the tasks print the text, or the data with --json.
import { forwardsOf, libvirtUri, type LabResolved, type VmResolved } from '../spec/tree.ts';
import type { VmStatus } from '../vm/status.ts';
import type { HostProbe } from '../qemu/host-probe.ts';
import { formatBytes, MiB } from '../spec/size.ts';
import { renderTree, type TreeNode } from './tree.ts';
import { renderBars, type BarRow } from './bar.ts';
import { renderBox } from './box.ts';
import { truncate } from './text.ts';
import { glyphs, type ChartOptions } from './style.ts';

export interface HostTotals {
  title: string;
  cpus: number;
  memoryMiB: number;
  freeDiskBytes?: number;
  accel: string; // e.g. "KVM unusable → TCG"
}

/** The host's totals as the charts show them, from a probe of it. */
export function hostTotals(lab: LabResolved, p: HostProbe): HostTotals {
  return {
    title: lab.host.title,
    cpus: p.cpus,
    memoryMiB: p.memoryMiB,
    freeDiskBytes: p.freeDiskBytes,
    accel: p.kvm.state === 'usable' ? 'KVM usable' : `KVM ${p.kvm.state}, TCG`,
  };
}

const live = (rows: VmStatus[]) => new Map(rows.map((r) => [r.name, r]));
const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

// ── tree ─────────────────────────────────────────────────────────────────────────────

export interface TreeData {
  host: HostTotals;
  vms: Array<{
    name: string;
    title?: string;
    parent?: string;
    depth: number;
    state: string;
    /** A suspended top-level VM: what its saved state takes on disk. */
    savedBytes?: number;
    accel?: string;
    cpus: number;
    memoryMiB: number;
    ssh?: string;
    libvirt?: string;
  }>;
}

export function treeData(lab: LabResolved, host: HostTotals, rows: VmStatus[]): TreeData {
  const st = live(rows);
  const vms: TreeData['vms'] = [];
  const walk = (vm: VmResolved, parent: VmResolved | undefined, depth: number) => {
    const r = st.get(vm.name);
    const port = vm.network.sshPort;
    vms.push({
      name: vm.name,
      title: vm.title,
      parent: parent?.name,
      depth,
      state: r?.state ?? 'unknown',
      ...(r?.savedBytes !== undefined ? { savedBytes: r.savedBytes } : {}),
      accel: r?.accel,
      cpus: vm.cpus,
      memoryMiB: vm.memory,
      ssh: port === undefined ? undefined : parent ? `${port} via ${parent.name}` : `${vm.network.bind}:${port}`,
      libvirt: libvirtUri(lab, { vm, parent }),
    });
    for (const c of vm.children) walk(c, vm, depth + 1);
  };
  for (const vm of lab.vms) walk(vm, undefined, 1);
  return { host, vms };
}

export function renderLabTree(d: TreeData, o: ChartOptions): string {
  const byName = new Map(d.vms.map((v) => [v.name, v]));
  const kids = new Map<string, string[]>();
  for (const v of d.vms) if (v.parent) kids.set(v.parent, [...(kids.get(v.parent) ?? []), v.name]);
  const node = (name: string): TreeNode => {
    const v = byName.get(name)!;
    const role = v.depth === 1 ? `guest VM${v.libvirt ? ` on libvirt ${v.libvirt}` : ''}` : 'nested VM';
    const state = v.savedBytes !== undefined ? `${v.state} (${formatBytes(v.savedBytes)} saved)` : v.state;
    const facts = [state, v.accel, plural(v.cpus, 'CPU'), formatBytes(v.memoryMiB * MiB), v.ssh && `SSH ${v.ssh}`].filter(Boolean).join(glyphs(o).sep);
    return { label: `${v.name}${v.title ? ` "${v.title}"` : ''} (${role}) ${facts}`, children: (kids.get(name) ?? []).map(node) };
  };
  const h = d.host;
  const root = {
    label: [`${h.title} (host)`, plural(h.cpus, 'CPU'), formatBytes(h.memoryMiB * MiB), h.accel].join(glyphs(o).sep),
    children: d.vms.filter((v) => v.depth === 1).map((v) => node(v.name)),
  };
  return renderTree([root], o);
}

// ── allocation ───────────────────────────────────────────────────────────────────────

export interface AllocData {
  host: HostTotals;
  reserve: { memoryMiB: number; cpus: number };
  memory: Array<{ name: string; parent?: string; memoryMiB: number }>;
  cpus: Array<{ name: string; parent?: string; cpus: number }>;
  disks: Array<{ name: string; bytes: number; what: string }>;
  warnings: string[];
}

/** The host keeps 1 GiB and no CPU unless the spec says otherwise (host.reserve). */
export function allocData(lab: LabResolved, host: HostTotals, diskSizes: Record<string, number> = {}): AllocData {
  const asked = { memoryMiB: lab.host.reserve.memory ?? 1024, cpus: lab.host.reserve.cpus ?? 0 };
  const warnings: string[] = [];
  // A spec is portable: on a host smaller than its reserve, the reserve is all the host has (never a negative rest).
  const reserve = { memoryMiB: Math.min(asked.memoryMiB, host.memoryMiB), cpus: Math.min(asked.cpus, host.cpus) };
  if (asked.memoryMiB > host.memoryMiB)
    warnings.push(
      `host.reserve.memory (${formatBytes(asked.memoryMiB * MiB)}) is more than this host has (${formatBytes(host.memoryMiB * MiB)}); charted as all of it`,
    );
  if (asked.cpus > host.cpus) warnings.push(`host.reserve.cpus (${asked.cpus}) is more than this host's ${host.cpus} CPUs; charted as all of them`);
  const memory: AllocData['memory'] = [];
  const cpus: AllocData['cpus'] = [];
  const disks: AllocData['disks'] = [];
  const walk = (vm: VmResolved, parent?: VmResolved) => {
    memory.push({ name: vm.name, parent: parent?.name, memoryMiB: vm.memory });
    cpus.push({ name: vm.name, parent: parent?.name, cpus: vm.cpus });
    const bytes = diskSizes[vm.name] ?? vm.disk?.size;
    if (bytes !== undefined) disks.push({ name: vm.name, bytes, what: parent ? `inside ${parent.name}` : (vm.disk?.file ?? 'root overlay') });
    const kids = vm.children.reduce((s, c) => s + c.memory, 0);
    if (kids > vm.memory) warnings.push(`${vm.name}: its children ask ${formatBytes(kids * MiB)}, more than its ${formatBytes(vm.memory * MiB)}`);
    for (const c of vm.children) walk(c, vm);
  };
  for (const vm of lab.vms) walk(vm);
  const guestMemory = lab.vms.reduce((s, v) => s + v.memory, 0);
  if (guestMemory > host.memoryMiB - reserve.memoryMiB)
    warnings.push(
      `memory overcommitted: guests ask ${formatBytes(guestMemory * MiB)}, the host has ${formatBytes((host.memoryMiB - reserve.memoryMiB) * MiB)} after its ${formatBytes(reserve.memoryMiB * MiB)} reserve`,
    );
  const guestCpus = lab.vms.reduce((s, v) => s + v.cpus, 0);
  if (guestCpus > host.cpus - reserve.cpus)
    warnings.push(`CPUs overcommitted: guests ask ${guestCpus} vCPUs, the host has ${host.cpus - reserve.cpus} after its reserve (they share time)`);
  const diskTotal = disks.filter((d) => !d.what.startsWith('inside')).reduce((s, d) => s + d.bytes, 0);
  if (host.freeDiskBytes !== undefined && diskTotal > host.freeDiskBytes)
    warnings.push(`disk: the VMs' disks may grow to ${formatBytes(diskTotal)}, more than the ${formatBytes(host.freeDiskBytes)} free`);
  return { host, reserve, memory, cpus, disks, warnings };
}

export function renderAlloc(d: AllocData, o: ChartOptions): string {
  const h = d.host;
  const mem = (mib: number, of: number) => ({ fraction: mib / of, detail: `${formatBytes(mib * MiB)} of ${formatBytes(of * MiB)}` });
  const top = d.memory.filter((m) => !m.parent);
  const used = top.reduce((s, m) => s + m.memoryMiB, 0);
  const memOf = new Map(d.memory.map((m) => [m.name, m.memoryMiB]));
  const cpusOf = new Map(d.cpus.map((c) => [c.name, c.cpus]));
  const memRows: BarRow[] = [
    ...d.memory.map((m) => ({ label: m.parent ? `  ${m.name} (in ${m.parent})` : m.name, ...mem(m.memoryMiB, m.parent ? memOf.get(m.parent)! : h.memoryMiB) })),
    { label: 'host reserve', ...mem(d.reserve.memoryMiB, h.memoryMiB) },
    { label: 'unallocated', ...mem(Math.max(0, h.memoryMiB - used - d.reserve.memoryMiB), h.memoryMiB) },
  ];
  const cpuRows: BarRow[] = d.cpus.map((c) => {
    const of = c.parent ? cpusOf.get(c.parent)! : h.cpus;
    return { label: c.parent ? `  ${c.name} (in ${c.parent})` : c.name, fraction: c.cpus / of, detail: `${c.cpus} of ${of}` };
  });
  const sections = [
    `${h.title} (host): ` +
      [
        `${formatBytes(h.memoryMiB * MiB)} RAM`,
        plural(h.cpus, 'CPU'),
        h.freeDiskBytes !== undefined ? `${formatBytes(h.freeDiskBytes)} disk free` : 'disk free unknown',
        h.accel,
      ].join(glyphs(o).sep),
    '',
    'Memory',
    renderBars(memRows, o),
    '',
    'CPUs (vCPUs per VM; VMs share the cores)',
    renderBars(cpuRows, o),
  ];
  if (d.disks.length) {
    const of = h.freeDiskBytes ?? Math.max(...d.disks.map((x) => x.bytes));
    sections.push(
      '',
      'Disks (virtual size against free space)',
      renderBars(
        d.disks.map((x) => ({ label: x.name, fraction: x.bytes / of, detail: `${formatBytes(x.bytes)} ${x.what}` })),
        o,
      ),
    );
  }
  if (d.warnings.length) sections.push('', ...d.warnings.map((w) => `${o.ascii ? '!' : '⚠'} ${w}`));
  return sections
    .join('\n')
    .split('\n')
    .map((l) => (o.color ? l : truncate(l, o.width, o.ascii)))
    .join('\n');
}

// ── topology ─────────────────────────────────────────────────────────────────────────

export interface TopologyData {
  host: { title: string; listens: string[] };
  vms: Array<{ name: string; parent?: string; address: string; gateway: string; dns: string; forwards: string[]; state: string }>;
}

/** QEMU user networking: every guest is 10.0.2.15/24 behind its own NAT at 10.0.2.2. */
export function topologyData(lab: LabResolved, rows: VmStatus[], o: Pick<ChartOptions, 'ascii'>): TopologyData {
  const st = live(rows);
  const arrow = glyphs(o).arrow;
  const vms: TopologyData['vms'] = [];
  const listens: string[] = [];
  const walk = (vm: VmResolved, parent?: VmResolved) => {
    const forwards = forwardsOf(vm).map(
      (f) => `${f.bind}:${f.host} ${arrow} ${vm.name}:${f.guest}${f.proto === 'udp' ? '/udp' : ''}${parent ? ` (in ${parent.name})` : ''}`,
    );
    if (!parent) listens.push(...forwards);
    vms.push({
      name: vm.name,
      parent: parent?.name,
      address: '10.0.2.15/24',
      gateway: '10.0.2.2',
      dns: '10.0.2.3',
      forwards,
      state: st.get(vm.name)?.state ?? 'unknown',
    });
    for (const c of vm.children) walk(c, vm);
  };
  for (const vm of lab.vms) walk(vm);
  return { host: { title: lab.host.title, listens }, vms };
}

export function renderTopology(d: TopologyData, o: ChartOptions): string {
  const node = (name: string): TreeNode => {
    const v = d.vms.find((x) => x.name === name)!;
    const body = [`${v.address} gw ${v.gateway} dns ${v.dns}`, ...v.forwards, v.state];
    return {
      label: renderBox(`${v.name}${v.parent ? ` (nested in ${v.parent})` : ''}`, body, o),
      children: d.vms.filter((c) => c.parent === name).map((c) => node(c.name)),
    };
  };
  const hostBox = renderBox(`${d.host.title} (host)`, d.host.listens.length ? d.host.listens : ['no forwarded ports'], o);
  return renderTree([{ label: hostBox, children: d.vms.filter((v) => !v.parent).map((v) => node(v.name)) }], o);
}
