// A nested VM's QMP from inside its parent, as a command line for the parent's port shell: its
// QEMU listens on a loopback port there, and one exchange goes over busybox nc (the kit's tiny
// images; QEMU answers every command before it closes on the client's end of input) or, where
// there is no nc (the kit's Debian images), bash's /dev/tcp, read until every command has its
// reply.  The replies come back on one line after `qmp=`.  Used where the kit reaches the
// parent through its port shell, not SSH.

/** One exchange: capabilities, then `commands` in order. */
export function childQmpExchange(port: number, commands: string[]): string {
  const all = ['qmp_capabilities', ...commands];
  const lines = all.map((c) => `'{"execute":"${c}"}'`).join(' ');
  // A reply is a line with "return" or "error" in it (the greeting and events have neither).
  const viaBash = `exec 3<>/dev/tcp/127.0.0.1/${port} && cat >&3 && n=0 && while [ $n -lt ${all.length} ] && IFS= read -r l <&3; do printf "%s\\n" "$l"; case "$l" in *return*|*error*) n=$((n+1));; esac; done`;
  const talk = `if command -v nc >/dev/null 2>&1; then timeout 3 nc 127.0.0.1 ${port}; else timeout 3 bash -c '${viaBash}'; fi`;
  return `echo "qmp=$(printf '%s\\n' ${lines} | { ${talk}; } 2>/dev/null | tr '\\n' ' ')"`;
}

/** Each `query-status` reply's status in the exchange's output, in order (none: QEMU did not answer). */
export function qmpStatuses(out: string): string[] {
  const line = out.split('\n').find((l) => l.startsWith('qmp=')) ?? '';
  return [...line.matchAll(/"status":\s*"([\w-]+)"/g)].map((m) => m[1]!);
}
