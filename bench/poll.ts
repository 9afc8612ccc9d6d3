// The raw baselines' wait, as a shell script would write it: connect, run a check, and try
// again 0.1 s later until it passes; a bench run never waits forever.
import type { Guest } from '../tasks/ssh/guest.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function pollGuest(what: string, connect: () => Promise<Guest>, check = 'uname -a', timeoutMs = 180_000): Promise<Guest> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const g = await connect().catch(() => undefined);
    if (g && (await g.exec(check).catch(() => ({ code: 1 }))).code === 0) return g;
    g?.close();
    await sleep(100);
  }
  throw new Error(`raw baseline: ${what} did not pass \`${check}\` within ${timeoutMs / 1000} s`);
}
