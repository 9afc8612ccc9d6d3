// One reading of a lab as the dashboard and /metrics show it: per VM its place in the tree,
// the machine its QEMU runs on, its state and the figures a card draws, flattened from the
// stats (stats/figures.ts) so the page and Prometheus read plain numbers; and the last few
// minutes of them, kept once for every browser.
import type { VmStats } from '../stats/figures.ts';
import { libvirtUri, walkVms, type LabResolved } from '../spec/tree.ts';
import { MiB } from '../spec/size.ts';

export interface VmView {
  name: string;
  title?: string;
  parent?: string;
  /** 1 for a VM of the host, 2 inside it, … */
  layer: number;
  /** Where its QEMU runs: "this host", "inside l1", "libvirt qemu:///system". */
  machine: string;
  state: string;
  accel?: string;
  vcpus: number;
  memoryBytes: number;
  /** The guest's own CPU busy over the window, 0–100. */
  cpuPercent?: number;
  /** The QEMU process's CPU over the window, in % of one host core; and its total seconds. */
  qemuCpuPercent?: number;
  qemuCpuSeconds?: number;
  rssBytes?: number;
  memUsedBytes?: number;
  memTotalBytes?: number;
  rootUsedBytes?: number;
  rootTotalBytes?: number;
  diskVirtualBytes?: number;
  diskAllocatedBytes?: number;
  diskReadBytes?: number;
  diskWrittenBytes?: number;
  netRxBytes?: number;
  netTxBytes?: number;
  sshRttMs?: number;
  uptimeS?: number;
  /** Why a figure is missing (a source that failed), for a running VM. */
  problems: string[];
}

export interface LabFrame {
  lab: string;
  time: string;
  /** Readings made since the server started: one per interval, whatever the number of browsers. */
  seq: number;
  /** How long the reading took. */
  readMs: number;
  vms: VmView[];
}

/** Where each VM's QEMU runs, by name. */
export function machinesOf(lab: LabResolved): Map<string, string> {
  const out = new Map<string, string>();
  for (const place of walkVms(lab.vms)) {
    const uri = libvirtUri(lab, place);
    out.set(place.vm.name, place.parent ? `inside ${place.parent.name}` : uri ? `libvirt ${uri}` : 'this host');
  }
  return out;
}

/** One VM's stats as plain figures; a failed source leaves its figures out and says why. */
export function vmView(s: VmStats, machine: string): VmView {
  const h = s.host.ok ? s.host.value : undefined;
  const q = s.qmp.ok ? s.qmp.value : undefined;
  const d = s.disk.ok ? s.disk.value : undefined;
  const g = s.guest.ok ? s.guest.value : undefined;
  const n = s.network.ok ? s.network.value : undefined;
  const problems =
    s.state === 'running'
      ? (['host', 'qmp', 'guest', 'network'] as const).flatMap((k) => (s[k].ok ? [] : [`${k}: ${(s[k] as { reason: string }).reason}`]))
      : [];
  const view: VmView = {
    name: s.name,
    title: s.title,
    parent: s.parent,
    layer: s.depth,
    machine,
    state: s.state,
    accel: s.accel,
    vcpus: s.cpus,
    memoryBytes: s.memoryMiB * MiB,
    cpuPercent: g?.cpuBusyPercent,
    qemuCpuPercent: h?.cpuPercent,
    qemuCpuSeconds: h?.cpuSeconds,
    rssBytes: h && Number.isFinite(h.rssMiB) ? h.rssMiB * MiB : undefined,
    memUsedBytes: g ? (g.memTotalMiB - g.memAvailableMiB) * MiB : undefined,
    memTotalBytes: g ? g.memTotalMiB * MiB : undefined,
    rootUsedBytes: g ? g.rootUsedMiB * MiB : undefined,
    rootTotalBytes: g ? g.rootTotalMiB * MiB : undefined,
    diskVirtualBytes: d?.virtualBytes ?? s.diskSizeBytes,
    diskAllocatedBytes: d?.allocatedBytes,
    diskReadBytes: q?.readBytes,
    diskWrittenBytes: q?.writtenBytes,
    netRxBytes: g?.netRxBytes,
    netTxBytes: g?.netTxBytes,
    sshRttMs: n?.sshRttMs,
    uptimeS: g?.uptimeS,
    problems,
  };
  // Undefined figures are left out of the JSON the page and pipelines read.
  return Object.fromEntries(Object.entries(view).filter(([, v]) => v !== undefined && !(typeof v === 'number' && !Number.isFinite(v)))) as unknown as VmView;
}

/** A point of a VM's history: CPU and memory in %, network in bytes per second since the point before. */
export interface Point {
  t: number;
  cpu?: number;
  mem?: number;
  rx?: number;
  tx?: number;
}

/** The last `keep` points per VM, one per frame: what a browser that opens the page now draws first. */
export class History {
  private readonly points = new Map<string, Point[]>();
  private readonly last = new Map<string, { t: number; rx?: number; tx?: number }>();
  constructor(private readonly keep: number) {}

  add(frame: LabFrame): void {
    const t = Date.parse(frame.time);
    for (const v of frame.vms) {
      const before = this.last.get(v.name);
      const secs = before ? (t - before.t) / 1000 : 0;
      const rate = (now?: number, then?: number) => (now !== undefined && then !== undefined && secs > 0 && now >= then ? (now - then) / secs : undefined);
      const p: Point = { t };
      if (v.cpuPercent !== undefined) p.cpu = v.cpuPercent;
      if (v.memUsedBytes !== undefined && v.memTotalBytes) p.mem = Math.round((v.memUsedBytes / v.memTotalBytes) * 1000) / 10;
      const rx = rate(v.netRxBytes, before?.rx);
      const tx = rate(v.netTxBytes, before?.tx);
      if (rx !== undefined) p.rx = Math.round(rx);
      if (tx !== undefined) p.tx = Math.round(tx);
      this.last.set(v.name, { t, rx: v.netRxBytes, tx: v.netTxBytes });
      const list = this.points.get(v.name) ?? [];
      list.push(p);
      if (list.length > this.keep) list.splice(0, list.length - this.keep);
      this.points.set(v.name, list);
    }
  }

  toJSON(): Record<string, Point[]> {
    return Object.fromEntries(this.points);
  }
}
