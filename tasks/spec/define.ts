// `defineLab` gives spec files editor types and completion; it returns its argument as is.
import type { LabInput } from './schema.ts';

export function defineLab<const T extends LabInput>(lab: T): T {
  return lab;
}
