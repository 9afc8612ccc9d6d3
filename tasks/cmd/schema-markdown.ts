// `schema spec --markdown`: the spec's reference as Markdown tables, one row per field,
// walked out of the same JSON Schema `schema spec` prints — so docs/spec.md, which holds
// this output, cannot drift from what the kit accepts (a test compares them).

type Json = Record<string, unknown>;

interface Row {
  path: string;
  type: string;
  default?: string;
  doc: string;
}

const code = (s: string) => `\`${s.replace(/`/g, "'")}\``;
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A field's type in a few words: enums and literals by value, ranges, sizes. */
function typeOf(j: Json): string {
  if (Array.isArray(j.enum)) return (j.enum as unknown[]).map((v) => JSON.stringify(v)).join(' or ');
  if (j.const !== undefined) return JSON.stringify(j.const);
  const any = j.anyOf as Json[] | undefined;
  if (any) {
    const bare = any.find((a) => typeof a.description === 'string' && a.description.startsWith('a bare number is'));
    if (bare) return `size: a number (${String(bare.description).replace('a bare number is ', '')}) or "512M", "8G"`;
    return any.map((a) => (a.type === 'object' ? `{${Object.keys((a.properties as Json) ?? {}).join(', ')}}` : typeOf(a))).join(' or ');
  }
  if (j.$ref) return 'VM';
  switch (j.type) {
    case 'integer':
    case 'number': {
      const lo = (j.minimum ?? j.exclusiveMinimum) as number | undefined;
      const hi = j.maximum as number | undefined;
      const word = j.type === 'integer' ? 'whole number' : 'number';
      if (hi !== undefined && hi < 2 ** 53 - 1 && lo !== undefined) return `${word} ${lo}–${hi}`;
      return lo !== undefined ? `${word} ≥ ${lo}` : word;
    }
    case 'array':
      return `list of ${typeOf(j.items as Json)}`;
    case 'object':
      return j.additionalProperties && typeof j.additionalProperties === 'object' ? 'map of text to text' : 'object';
    case 'string':
      return 'text';
    default:
      return String(j.type ?? 'any');
  }
}

function walk(j: Json, path: string, rows: Row[], defs: Json, seen: Set<string>, required: boolean, variant = '') {
  const ref = j.$ref as string | undefined;
  const target = ref ? (defs[ref.replace('#/$defs/', '')] as Json) : j;
  const row: Row = {
    path,
    type: typeOf(j),
    default: j.default === undefined ? undefined : JSON.stringify(j.default),
    doc: [variant, String(j.description ?? target.description ?? ''), required ? '(required)' : ''].filter(Boolean).join(' '),
  };
  if (path) rows.push(row);
  if (ref) {
    // A VM's children are VMs: their fields are the ones already listed.
    if (seen.has(ref)) return;
    seen.add(ref);
  }
  const inner = target.type === 'array' ? (target.items as Json) : target;
  const itemRef = inner.$ref as string | undefined;
  if (itemRef && seen.has(itemRef)) return;
  const node = itemRef ? (defs[itemRef.replace('#/$defs/', '')] as Json) : inner;
  if (itemRef) seen.add(itemRef);
  const base = target.type === 'array' ? `${path}[]` : path;
  const join = (k: string) => (base ? `${base}.${k}` : k);
  const objects = ((node.anyOf as Json[] | undefined) ?? [node]).filter((o) => o.type === 'object' && o.properties);
  for (const o of objects) {
    const req = new Set((o.required as string[] | undefined) ?? []);
    // One of several shapes (boot's): each field says which shape it belongs to, by its required key.
    const which = objects.length > 1 && req.size ? `with ${code([...req][0]!)}:` : '';
    for (const [k, v] of Object.entries(o.properties as Record<string, Json>)) walk(v, join(k), rows, defs, seen, req.has(k), which);
  }
}

/** A JSON Schema (the spec's, or a task's output's) as one Markdown table, a row per field. */
export function specReference(schema: Json): string {
  const rows: Row[] = [];
  walk(schema, '', rows, (schema.$defs as Json) ?? {}, new Set(), false);
  const top = new Set((schema.required as string[] | undefined) ?? []);
  for (const r of rows) if (top.has(r.path) && !r.doc.includes('(required)')) r.doc = `${r.doc} (required)`.trim();
  return [
    '| field | type | default | what it is |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${code(r.path)} | ${cell(r.type)} | ${r.default === undefined ? '' : code(r.default)} | ${cell(r.doc)} |`),
  ].join('\n');
}
