// A QEMU's sample inside a guest (machine/over-ssh.ts), as one shell script and its parse:
// the script runs wherever a shell in that guest is at hand — an SSH session, or the kit's
// port shell after a resume (console/port-shell.ts) — and the facts read the same either way.
import { shellQuote } from '../util/shell-quote.ts';
import { guestDisk, keyValues } from './shell-output.ts';
import { isQemuOf, uptimeOf } from '../qemu/process.ts';
import type { ProcReading, QemuRef, QemuSample, SampleOptions } from './machine.ts';

/**
 * One script: the pidfile (else the given pid), whether it is our QEMU, its RSS and uptime,
 * the /proc readings of a window, and the disks' headers and sizes.
 */
export function sampleScript(ref: QemuRef, opts: SampleOptions = {}): string {
  const procRead = (n: number) => [
    `read -r up r < /proc/uptime; echo "up${n}=$up"; read -r s < /proc/$pid/stat; echo "stat${n}=$s"`,
    `for t in /proc/$pid/task/*; do read -r s < $t/stat 2>/dev/null && echo "task${n}=$s"; done`,
  ];
  const disks = opts.disks ?? [];
  return [
    opts.pid
      ? `pid=${opts.pid}`
      : `{ read -r pid < ${shellQuote(ref.paths.pid)}; } 2>/dev/null; case "$pid" in ''|*[!0-9]*) pid=${opts.fallbackPid ?? ''};; esac`,
    `[ -e ${shellQuote(ref.paths.pid)} ] && echo pidfile=1`,
    'echo "pid=$pid"',
    // The argv read once (NULs as \x1f, which no argument of the kit's holds), and only a cheap
    // gate on the window's reads (a shell `case`, no fork): whether it is this VM's QEMU is
    // isQemuOf's to say, from that argv and the stat line.
    `a=; [ -n "$pid" ] && [ -d /proc/$pid ] && a=$(tr '\\0' '\\037' < /proc/$pid/cmdline 2>/dev/null)`,
    `case "$a" in *${shellQuote(ref.paths.pid)}*)`,
    '  echo "argv=$a"',
    '  while read -r k v r; do case $k in VmRSS:) rss=$v;; esac; done < /proc/$pid/status',
    '  echo "rss=$rss"; read -r up r < /proc/uptime; echo "hostuptime=$up"; read -r s < /proc/$pid/stat; echo "stat=$s"',
    ...(opts.windowMs !== undefined ? [...(opts.windowMs > 0 ? [...procRead(0), `sleep ${opts.windowMs / 1000}`] : []), ...procRead(1)] : []),
    ';; esac',
    ...disks.flatMap((f, i) => [
      `printf 'head${i}='; od -An -tx1 -v -N32 ${shellQuote(f)} 2>/dev/null | { while read -r l; do printf '%s ' "$l"; done; }; echo`,
      `printf 'dstat${i}='; stat -c '%s %b' ${shellQuote(f)} 2>&1 || echo`,
    ]),
  ].join('\n');
}

/** The sample the script's output says. */
export function parseSample(stdout: string, ref: QemuRef, opts: SampleOptions = {}): QemuSample {
  const disks = opts.disks ?? [];
  const kv = keyValues(stdout);
  const lines = stdout.split('\n');
  const reading = (n: number): ProcReading | undefined => {
    const stat = kv[`stat${n}`];
    if (!stat) return undefined;
    const tasks = Object.fromEntries(
      lines
        .filter((l) => l.startsWith(`task${n}=`))
        .map((l) => l.slice(6))
        .map((s) => [Number(s.split(' ')[0]), s]),
    );
    return { uptimeS: Number(kv[`up${n}`]), stat, tasks };
  };
  const pid = Number(kv.pid);
  const alive = !!kv.stat && isQemuOf((kv.argv ?? '').split('\x1f'), kv.stat, ref.paths.pid);
  return {
    pid: Number.isInteger(pid) && pid > 0 ? pid : undefined,
    pidfile: kv.pidfile === '1',
    alive,
    uptimeS: alive ? uptimeOf(kv.stat!, Number(kv.hostuptime)) : undefined,
    rssKiB: alive && kv.rss ? Number(kv.rss) : undefined,
    start: alive && opts.windowMs ? reading(0) : undefined,
    end: alive ? reading(1) : undefined,
    disks: Object.fromEntries(disks.map((f, i) => [f, guestDisk(f, kv[`head${i}`] ?? '', kv[`dstat${i}`] ?? '')])),
  };
}
