// Quoting for a POSIX shell: a guest's, or the one a command line is shown for.

/** Quotes a word for a POSIX shell on the guest. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
