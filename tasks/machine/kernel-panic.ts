// A kernel panic read off a serial console: the one sign of a guest that died in its kernel
// while its QEMU runs on (QMP still says "running", and SSH only stops answering).
import type { Machine, QemuRef } from './machine.ts';

/**
 * The panic line of a serial console's tail, if the kernel panicked.  Linux prints it last
 * ("Kernel panic - not syncing: …") and, without panic=N on its command line (Debian's
 * default), then halts with QEMU still running, so only the console tells.
 */
export function kernelPanic(serialTail: string): string | undefined {
  return /Kernel panic - not syncing: [^\n]*/
    .exec(serialTail)?.[0]
    .replace(/\s*\]---$/, '')
    .trim();
}

/** The panic line in the last `lines` lines of `ref`'s serial log on its machine, if any. */
export async function consolePanic(machine: Machine, ref: QemuRef, lines: number): Promise<string | undefined> {
  return kernelPanic(await machine.tail(ref.paths.serial, lines).catch(() => ''));
}
