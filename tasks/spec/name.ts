// What a lab's or VM's name may be, without the spec's schema (no zod): a CLI that only
// checks an argument's shape stays light.

/** Lowercase letters, digits and dashes, 1–63 long, no leading/trailing dash: safe in paths, hostnames and shells. */
export const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
