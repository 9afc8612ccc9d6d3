// A nested VM's QMP from inside its parent, as a command line for the parent's port shell: its
// QEMU listens on a loopback port there, and busybox nc carries one exchange (QEMU answers
// every command before it closes on the client's end of input).  The replies come back on one
// line after `qmp=`.  Used where the kit reaches the parent through its port shell, not SSH.

/** One exchange: capabilities, then `commands` in order. */
export function childQmpExchange(port: number, commands: string[]): string {
  const lines = ['qmp_capabilities', ...commands].map((c) => `'{"execute":"${c}"}'`).join(' ');
  return `echo "qmp=$(printf '%s\\n' ${lines} | timeout 3 nc 127.0.0.1 ${port} 2>/dev/null | tr '\\n' ' ')"`;
}

/** Each `query-status` reply's status in the exchange's output, in order (none: QEMU did not answer). */
export function qmpStatuses(out: string): string[] {
  const line = out.split('\n').find((l) => l.startsWith('qmp=')) ?? '';
  return [...line.matchAll(/"status":\s*"([\w-]+)"/g)].map((m) => m[1]!);
}
