// The spec's field types, each with its own words for a wrong value: names, one-line text,
// sizes in binary units, ports, IPv4 addresses and paths.  schema.ts builds the lab from them.
import { z } from 'zod';
import { parseSize, MiB } from './size.ts';
import { textProblem, type TextKind } from '../util/text.ts';
import { specPathProblem } from './paths.ts';
import { NAME_RE } from './name.ts';

export { NAME_RE };
/** A message for a wrong type only; range and format issues keep their own words. */
export const typeError = (message: string) => ({ error: (iss: { code: string }) => (iss.code === 'invalid_type' ? message : undefined) });

export const name = z
  .string(typeError('expected a name (lowercase letters, digits, dashes)'))
  .regex(NAME_RE, { error: (iss) => `must be lowercase letters, digits and dashes (max 63, no leading/trailing dash), got ${JSON.stringify(iss.input)}` });

/** Text that reaches a command line, a generated file or a terminal: no control characters (text.ts). */
export const text = (kind: TextKind, max: number, message = kind === 'line' ? 'expected one line of text' : 'expected text') =>
  z
    .string(typeError(message))
    .max(max)
    .superRefine((value, ctx) => {
      const problem = textProblem(value, kind);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, input: value });
    });

/** Below this no x86 Linux boots; a child's default (half its parent's) never goes under it either. */
export const MIN_MEMORY_MIB = 32;

/** A size that becomes MiB (memory) or bytes (disk). */
/** Beyond these QEMU refuses anyway: RAM past what a 46-bit guest address space maps, qcow2 past 64 TiB. */
const SIZE_MAX = { M: 16 * 2 ** 40, B: 64 * 2 ** 40 } as const;

export const size = (bareUnit: 'B' | 'M', minMiB = 0) =>
  z
    .unknown()
    .transform((value, ctx) => {
      const r = parseSize(value, bareUnit);
      if (!r.ok) {
        ctx.issues.push({ code: 'custom', message: r.reason, input: value });
        return z.NEVER;
      }
      if (r.bytes > SIZE_MAX[bareUnit]) {
        ctx.issues.push({
          code: 'custom',
          message: `${JSON.stringify(value)} is more than ${bareUnit === 'M' ? 'QEMU can give a guest (16 TiB)' : 'a disk image can hold (64 TiB)'}`,
          input: value,
        });
        return z.NEVER;
      }
      const out = bareUnit === 'M' ? Math.ceil(r.bytes / MiB) : r.bytes;
      if (bareUnit === 'M' && out < minMiB) {
        ctx.issues.push({ code: 'custom', message: `${JSON.stringify(value)} is less than the ${minMiB} MiB a guest needs at least`, input: value });
        return z.NEVER;
      }
      return out;
    })
    // A transform has no JSON Schema; `schema spec` reads this mark and writes number|string.
    .meta({ 'x-size': bareUnit === 'M' ? 'MiB' : 'bytes' });

export const port = z.number(typeError('expected a TCP port number')).int().min(1).max(65535);
export const ipv4 = z.string().regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, {
  error: (iss) => `must be an IPv4 address such as 127.0.0.1, got ${JSON.stringify(iss.input)}`,
});
/**
 * Paths reach QEMU's options and the shell in `explain --shell`, and a relative one is inside
 * the VM's state folder beside the kit's own files: one rule for all of them (spec/paths.ts).
 */
export const filePath = z
  .string(typeError('expected a file path'))
  .min(1)
  .max(4096)
  .superRefine((value, ctx) => {
    const problem = specPathProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, input: value });
  });
