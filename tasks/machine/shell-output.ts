// What a machine over SSH prints, read back: its one-exec scripts tag each line key=value, so
// parsing never guesses which command printed it.
import { diskFigures } from './machine.ts';

/** key=value lines → a record (a key's first `=` splits it). */
export function keyValues(out: string): Record<string, string> {
  return Object.fromEntries(
    out
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]),
  );
}

/** Listening TCP ports from /proc/net/tcp{,6} lines printed as "listen=HEXADDR:HEXPORT". */
export function listeningPorts(out: string): Set<number> {
  return new Set(
    out
      .split('\n')
      .filter((l) => l.startsWith('listen='))
      .map((l) => parseInt(l.slice(l.lastIndexOf(':') + 1), 16)),
  );
}

/** A disk's figures from `od` of its first 32 bytes and `stat -c '%s %b'`. */
export function guestDisk(file: string, headHex: string, stat: string) {
  const head = Buffer.from(headHex.replace(/\s+/g, ''), 'hex');
  const [size, blocks] = stat.trim().split(/\s+/).map(Number);
  if (head.length === 0 || !Number.isFinite(size) || !Number.isFinite(blocks)) return { error: `${file}: ${stat.trim() || 'cannot be read'}` };
  return diskFigures(head, size!, blocks!);
}
