// The lab agent's log (LAB/agent.log, 0600): its sessions' lives, each command it ran and each request's failures,
// so "why was that chart slow" or "why did it reconnect" has an answer after the fact.
// Kept small: past 256 KiB the file is moved to agent.log.1 and a new one begun.
import { appendFileSync, renameSync, statSync } from 'node:fs';

const MAX_BYTES = 256 * 1024;

export function agentLogger(file: string): (line: string) => void {
  let size = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  return (line) => {
    const text = `${new Date().toISOString()} ${process.pid} ${line}\n`;
    try {
      if (size + text.length > MAX_BYTES) {
        renameSync(file, `${file}.1`);
        size = 0;
      }
      appendFileSync(file, text, { mode: 0o600 });
      size += text.length;
    } catch {
      // A log that cannot be written (a full disk) must not stop the agent.
    }
  };
}
