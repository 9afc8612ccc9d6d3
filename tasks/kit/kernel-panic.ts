// A kernel panic read off a serial console: the one sign of a guest that died in its kernel
// while its QEMU runs on (QMP still says "running", and SSH only stops answering).

/**
 * The panic line of a serial console's tail, if the kernel panicked.  Linux prints it last
 * ("Kernel panic - not syncing: …") and, without panic=N on its command line (Debian's
 * default), then halts with QEMU still running, so only the console tells.
 */
export function kernelPanic(serialTail: string): string | undefined {
  return /Kernel panic - not syncing: [^\n]*/.exec(serialTail)?.[0].replace(/\s*\]---$/, '').trim();
}
