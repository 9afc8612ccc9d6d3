// Which errors mean an SSH connection ended under the kit (the guest's sshd dropped it, the
// tunnel through a parent closed, a handshake cut short) rather than an answer from the guest:
// the work that met one may go on over a new connection, and says that it did.

/** ssh2's and Guest's words for a connection that ended or never finished its handshake. */
const DROPPED = [
  /\bNot connected\b/, // ssh2: a call on a client whose connection has ended
  /No response from server/, // ssh2: the connection ended with a request pending
  /Connection lost before handshake/, // ssh2
  /closed before the SSH handshake finished/, // Guest.connect
  /waiting for the SSH handshake|Timed out while waiting for handshake/, // Guest.connect, ssh2's readyTimeout
  /\b(ECONNRESET|EPIPE)\b/,
  /the SSH connection ended while/, // Guest.exec: no exit status, and the connection gone
];

/** The error's first line when it says an SSH connection was dropped; undefined for anything else. */
export function droppedConnection(err: unknown): string | undefined {
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : '';
  const line = message.split('\n')[0]!;
  return DROPPED.some((re) => re.test(line)) ? line : undefined;
}
