// ssh2's protocol trace, on demand, for finding out why a connection ended (GRAINCHART_SSH_DEBUG).
import { appendFileSync } from 'node:fs';
import type { ConnectConfig } from 'ssh2';
import type { GuestTarget } from './guest.ts';

/**
 * GRAINCHART_SSH_DEBUG=FILE: ssh2's protocol trace of every connection, appended to FILE with
 * the time and the guest's name — what a connection that ended early said last.
 */
export function sshDebug(target: GuestTarget): Pick<ConnectConfig, 'debug'> {
  const file = process.env.GRAINCHART_SSH_DEBUG;
  if (!file) return {};
  const id = `${target.name}@${target.port}#${Math.random().toString(36).slice(2, 6)}`;
  return { debug: (line: string) => appendFileSync(file, `${new Date().toISOString()} ${process.pid} ${id} ${line}\n`) };
}
