// Waiting for a guest's sshd: overlapping banner reads on streams from any Dial (a TCP
// socket to a forward on this host, or a tunnel through a parent), the first good one kept
// for the SSH handshake.
import type { Duplex } from 'node:stream';

/** Opens a stream to a guest's port: a TCP socket here, or an SSH tunnel through a parent. */
export type Dial = () => Duplex | Promise<Duplex>;

/**
 * One SSH banner read: slirp accepts at once and closes when the guest's port is not
 * listening yet.  On success the socket is kept, its bytes pushed back, so SSH can start
 * on it without a second connection (and a second fork of the guest's sshd).
 */
async function readBanner(dial: Dial, timeoutMs: number, sockets: Set<Duplex>): Promise<{ banner: string; sock: Duplex }> {
  const sock = await dial();
  return new Promise((resolve, reject) => {
    sockets.add(sock);
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => {
      chunks.push(c);
      const data = Buffer.concat(chunks);
      const nl = data.indexOf(10);
      if (nl < 0) return;
      const line = data.subarray(0, nl).toString('latin1').trim();
      if (!line.startsWith('SSH-')) return fail(new Error(`not an SSH banner: ${line.slice(0, 40)}`));
      clearTimeout(timer);
      sock.off('data', onData).off('error', fail).off('close', onClose);
      sock.pause();
      sock.unshift(data);
      sockets.delete(sock);
      resolve({ banner: line, sock });
    };
    const fail = (err: Error) => {
      clearTimeout(timer);
      sock.destroy();
      sockets.delete(sock);
      reject(err);
    };
    const onClose = () => fail(new Error('connection closed before the banner'));
    const timer = setTimeout(() => fail(new Error('no banner yet')), timeoutMs);
    sock.on('data', onData).on('error', fail).on('close', onClose);
  });
}

/**
 * Overlapping banner reads.  A connection made before the guest's network is up waits on
 * slirp's SYN retries (1 s, 2 s, …); starting a fresh one every 100 ms (each given
 * `attemptMs`, at most 4 at once),
 * without waiting for the older ones, catches sshd soon after it listens.
 */
export function bannerPoller(dial: Dial, attemptMs = 500, pace: { gapMs?: number; max?: number } = {}) {
  const gapMs = pace.gapMs ?? 100;
  const max = pace.max ?? 4;
  const sockets = new Set<Duplex>();
  let found: { banner: string; sock: Duplex } | undefined;
  let lastError = 'no answer yet';
  let lastStart = 0;
  return {
    poll: async (): Promise<string | undefined> => {
      // Few and staggered: every connection that reaches sshd costs the guest a fork.
      if (!found && sockets.size < max && Date.now() - lastStart >= gapMs) {
        lastStart = Date.now();
        readBanner(dial, attemptMs, sockets).then(
          (b) => {
            if (found) b.sock.destroy();
            else found = b;
          },
          (e: Error) => (lastError = e.message),
        );
      }
      if (found) return found.banner;
      throw new Error(lastError);
    },
    /** The socket that brought the banner, once; later callers connect afresh. */
    take: (): Duplex | undefined => {
      const sock = found?.sock;
      if (found) found = { ...found, sock: undefined as unknown as Duplex };
      return sock;
    },
    close: () => {
      for (const sk of sockets) sk.destroy();
      sockets.clear();
      found?.sock?.destroy();
    },
  };
}
