// What a command leaves open for its whole run (a libvirt server's SSH session) and closes
// when it ends: runCli calls closeAll() once the task is done, so the process can exit.
const closers = new Set<() => void>();

export function onClose(close: () => void): void {
  closers.add(close);
}

export function closeAll(): void {
  for (const close of closers) {
    try {
      close();
    } catch {
      /* closing what already broke */
    }
  }
  closers.clear();
}
