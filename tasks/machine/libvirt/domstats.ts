// libvirt's own figures of a domain (`virsh domstats --raw`), what virt-top, cockpit and the
// Prometheus libvirt exporter read, turned into the chart's host, balloon and block figures.
// No net.*: the kit's NIC is QEMU's user-mode one in <qemu:commandline>, which libvirt does
// not count (libvirt-xml.ts says why).  Pure:
// the connection reads, this parses and subtracts, so every case is unit-tested.  CPU % is
// a window, as top's: two readings, the cumulative `cpu.time` and `vcpu.N.time` (ns) apart
// by the wall time between them.
export type DomainReading = Record<string, number>;

/** `virsh domstats --raw DOMAIN`: `  key=value` lines; keys with a non-numeric value are left out. */
export function parseDomstats(text: string): DomainReading {
  const r: DomainReading = {};
  for (const line of text.split('\n')) {
    const m = /^\s+([\w.-]+)=(-?\d+(?:\.\d+)?)\s*$/.exec(line);
    if (m) r[m[1]!] = Number(m[2]);
  }
  return r;
}

export interface DomainFigures {
  /** QEMU's CPU over the window, in % of one host core (cpu.time). */
  cpuPercent: number;
  /** QEMU's CPU time since it started (cpu.time), in seconds. */
  cpuSeconds: number;
  /** Each vCPU's, the same way (vcpu.N.time). */
  vcpuPercent: number[];
  /** QEMU's resident memory (balloon.rss). */
  rssMiB: number;
  /** What the balloon gives the guest now (balloon.current). */
  balloonMiB?: number;
  /** Summed over the domain's disks since it started (block.N.rd.bytes / wr.bytes). */
  readBytes: number;
  writtenBytes: number;
}

const sum = (r: DomainReading, count: string, key: (i: number) => string) =>
  Array.from({ length: r[count] ?? 0 }, (_, i) => r[key(i)] ?? 0).reduce((a, b) => a + b, 0);
const pct = (ns: number, secs: number) => Math.round((ns / 1e9 / secs) * 1000) / 10;

/** The figures of a window from `start` to `end`, `secs` of wall time apart. */
export function domainFigures(start: DomainReading, end: DomainReading, secs: number): DomainFigures {
  if (!(secs > 0)) throw new Error('no time passed between the readings');
  const need = (k: string) => {
    const v = end[k];
    if (v === undefined) throw new Error(`domstats has no ${k}`);
    return v;
  };
  const cpu = need('cpu.time') - (start['cpu.time'] ?? NaN);
  if (!(cpu >= 0)) throw new Error('the domain restarted between the readings');
  const vcpus = end['vcpu.current'] ?? 0;
  return {
    cpuPercent: pct(cpu, secs),
    cpuSeconds: need('cpu.time') / 1e9,
    vcpuPercent: Array.from({ length: vcpus }, (_, i) => pct((end[`vcpu.${i}.time`] ?? NaN) - (start[`vcpu.${i}.time`] ?? NaN), secs)).filter(
      (v) => !Number.isNaN(v),
    ),
    rssMiB: Math.round(need('balloon.rss') / 1024),
    ...(end['balloon.current'] !== undefined ? { balloonMiB: Math.round(end['balloon.current'] / 1024) } : {}),
    readBytes: sum(end, 'block.count', (i) => `block.${i}.rd.bytes`),
    writtenBytes: sum(end, 'block.count', (i) => `block.${i}.wr.bytes`),
  };
}
