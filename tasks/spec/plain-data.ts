// A TypeScript spec's default export, read once into plain data: a getter (or a Proxy) that
// throws does so here, where the loader can name the file and the field, and not later inside
// the checker as an unexplained error.  Shared objects and cycles stay as they are (the
// checker names a cycle); past 100 levels the rest is left as it is (the checker refuses
// anything nested more than 64 deep).
const MAX_DEPTH = 100;

export class UnreadableField extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path || 'the default export'}: ${reason}`);
  }
}

/** An array or an object literal; anything else (a Date, a class's instance) the checker judges as it is. */
function plain(v: object): boolean {
  if (Array.isArray(v)) return true;
  try {
    const proto = Object.getPrototypeOf(v);
    return proto === Object.prototype || proto === null;
  } catch {
    return true;
  }
}

export function plainData(value: unknown): unknown {
  const copies = new Map<object, unknown>();
  const copy = (v: unknown, path: string, depth: number): unknown => {
    if (v === null || typeof v !== 'object' || depth > MAX_DEPTH || !plain(v)) return v;
    const seen = copies.get(v);
    if (seen !== undefined) return seen;
    let keys: string[];
    try {
      keys = Object.keys(v);
    } catch (err) {
      throw new UnreadableField(path, (err as Error).message ?? String(err));
    }
    const out: Record<string, unknown> | unknown[] = Array.isArray(v) ? [] : {};
    copies.set(v, out);
    for (const k of keys) {
      const at = Array.isArray(v) ? `${path}[${k}]` : path ? `${path}.${k}` : k;
      let field: unknown;
      try {
        field = (v as Record<string, unknown>)[k];
      } catch (err) {
        throw new UnreadableField(at, (err as Error)?.message ?? String(err));
      }
      (out as Record<string, unknown>)[k] = copy(field, at, depth + 1);
    }
    return out;
  };
  return copy(value, '', 0);
}
