// Who may read the dashboard: whoever holds the token printed with its URL (as Jupyter does),
// given as ?token=… or `Authorization: Bearer …`, on a Host header that names 127.0.0.1 or
// localhost, on any port (an SSH tunnel from another machine forwards its own) — a page of
// another site that resolves its own name to 127.0.0.1 (DNS rebinding) sends its own name, and
// is refused before the token is even looked at.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** 32 random bytes, URL-safe. */
export const newToken = (): string => randomBytes(32).toString('base64url');

/** The token a request carries: its query's, else its bearer header's. */
export function tokenOf(req: IncomingMessage): string | undefined {
  const url = new URL(req.url ?? '/', 'http://x');
  const q = url.searchParams.get('token');
  if (q) return q;
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** 'ok', or the status a refused request gets: 403 for a foreign Host, 401 without the token. */
export function admit(req: IncomingMessage, token: string): 'ok' | 401 | 403 {
  const host = /^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.exec(req.headers.host ?? '');
  if (!host) return 403;
  const given = tokenOf(req);
  return given && same(given, token) ? 'ok' : 401;
}
