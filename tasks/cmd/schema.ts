// `schema NAME`: the JSON Schema of a spec or of a task's --json output, generated from
// the zod schemas the kit itself parses and tests with (z.toJSONSchema), so it cannot drift.
import { z } from 'zod';
import type { TaskContext } from '../cli/registry.ts';
import { UsageError } from '../util/errors.ts';
import { Snapshots, Spec, Stats, Status } from './shapes.ts';
import { specReference } from './schema-markdown.ts';

export const SCHEMAS = {
  spec: { schema: Spec, doc: 'a lab spec as written (input: sizes as "8G" or numbers; defaults optional)', io: 'input' },
  status: { schema: Status, doc: 'status --json, list --json', io: 'output' },
  stats: { schema: Stats, doc: 'chart-vm --json (watch --json lines hold {time, lab, vms: this})', io: 'output' },
  snapshots: { schema: Snapshots, doc: 'snapshots --json', io: 'output' },
} as const;

export function jsonSchema(name: keyof typeof SCHEMAS): Record<string, unknown> {
  const s = SCHEMAS[name];
  return z.toJSONSchema(s.schema as z.ZodType, {
    io: s.io,
    unrepresentable: 'any',
    cycles: 'ref',
    override: (c) => {
      const j = c.jsonSchema as Record<string, unknown>;
      const unit = j['x-size'];
      if (typeof unit !== 'string') return;
      delete j['x-size'];
      j.anyOf = [
        { type: 'number', exclusiveMinimum: 0, description: `a bare number is ${unit}` },
        { type: 'string', pattern: '^\\s*\\d+(\\.\\d+)?\\s*([bkmgtBKMGT])?([iI]?[bB])?\\s*$', description: 'binary units: "512M", "8G", "40GiB"' },
      ];
    },
  }) as Record<string, unknown>;
}

export function run(ctx: TaskContext): void {
  const name = ctx.args[0];
  if (!name) {
    const list = Object.entries(SCHEMAS).map(([n, s]) => ({ name: n, doc: s.doc }));
    ctx.out.result(list, () => list.map((l) => `${l.name.padEnd(10)} ${l.doc}`).join('\n'));
    return;
  }
  if (!(name in SCHEMAS)) throw new UsageError(`no schema named ${JSON.stringify(name)}`, `schemas: ${Object.keys(SCHEMAS).join(', ')}`);
  const schema = jsonSchema(name as keyof typeof SCHEMAS);
  if (ctx.opts.markdown) {
    if (ctx.json) throw new UsageError('schema: --markdown is text; leave out --json');
    ctx.out.result(schema, specReference(schema));
    return;
  }
  ctx.out.result(schema, () => JSON.stringify(schema, null, 2));
}
