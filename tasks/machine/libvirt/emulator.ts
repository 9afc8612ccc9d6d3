// Which QEMU a libvirt domain runs (<emulator>).  A libvirt on this host runs the lab's QEMU —
// host.qemu, else GRAINCHART_QEMU, else PATH's (qemu/which.ts); a server's libvirt, the
// qemu-system-x86_64 on that host's PATH.  A QEMU unpacked into a folder needs its own
// modules (QEMU_MODULE_DIR), and libvirt gives its emulator no environment — not even to the
// capability probe it runs first, which then loads the system QEMU's modules and aborts
// (measured: 10.0 unpacked beside 7.2, libvirt 9.0) — so the domain runs a two-line wrapper
// that names them, kept in the pool's folder where libvirt's QEMU user may run it.  That user
// may not reach the chosen binary at all (a tree under /root): asked before anything is
// defined, as that user (setpriv), and refused with the way out.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { UsageError } from '../../util/errors.ts';
import { shellQuote } from '../../util/shell-quote.ts';
import { currentQemu, moduleEnv, type QemuInstall } from '../../qemu/which.ts';
import type { Machine } from '../machine.ts';
import { poolDir, QEMU_HOME } from './pool.ts';

/** The wrapper's text: the QEMU's modules named, then the QEMU itself with every argument. */
export const wrapperText = (q: QemuInstall): string => {
  const env = Object.entries(moduleEnv(q)).map(([k, v]) => `${k}=${shellQuote(v)} `);
  return `#!/bin/sh\n# grainchart: libvirt runs ${q.system} with its own modules (it was unpacked into a folder)\n${env.join('')}exec ${shellQuote(q.system)} "$@"\n`;
};

/** The emulator a domain on this host's libvirt runs: the lab's QEMU, or the wrapper that names its modules (written when it differs). */
export function localEmulator(): string {
  const q = currentQemu();
  if (!q.moduleDir) return q.system;
  const file = join(poolDir(), 'emulators', `qemu-system-x86_64-${createHash('sha256').update(q.system).digest('hex').slice(0, 12)}`);
  const text = wrapperText(q);
  let now = '';
  try {
    now = readFileSync(file, 'utf8');
  } catch {}
  // Unchanged, untouched: libvirt probes an emulator again whenever its file changes.
  if (now !== text) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o711 });
    writeFileSync(`${file}.tmp`, text, { mode: 0o755 });
    renameSync(`${file}.tmp`, file);
  }
  return file;
}

/**
 * The first of the chosen QEMU's binary and folders that libvirt's QEMU user (the owner of
 * its home, as libvirt runs it) cannot reach, asked on `access` as that user; undefined when
 * it reaches all.
 */
async function unreachable(access: Machine, q: QemuInstall): Promise<string | undefined> {
  const files = [q.system, ...q.dataDirs, ...(q.moduleDir ? [q.moduleDir] : [])];
  const script = `u=$(stat -c %u ${QEMU_HOME}) && g=$(stat -c %g ${QEMU_HOME}) || exit 3; for f; do setpriv --reuid="$u" --regid="$g" --init-groups test -x "$f" || { echo "$f"; exit 0; }; done`;
  const out = await access.run(['sh', '-c', script, 'sh', ...files]).catch(() => '');
  return out.trim() || undefined;
}

/** Throws (exit 2) where a libvirt here would run a QEMU its user cannot reach; the one on PATH is libvirt's own. */
export async function checkEmulatorReachable(access: Machine): Promise<void> {
  const q = currentQemu();
  if (q.from === 'PATH') return;
  const missed = await unreachable(access, q);
  if (missed)
    throw new UsageError(
      `${q.from}: libvirt runs its QEMU as the owner of ${QEMU_HOME}, who cannot reach ${missed}${missed === q.system ? '' : ` (of ${q.system})`}`,
      'put that QEMU where every user may read and run it (a folder under /opt, say), or run the lab without host.libvirt',
    );
}
