// Text measured as a terminal shows it: every cell goes through string-width, so emoji and
// CJK labels (two columns) and ANSI colour codes (zero) keep columns aligned.
import stringWidth from 'string-width';

export const width = (s: string) => stringWidth(s);

/** Pads with spaces to `w` columns (never cuts). */
export function padEnd(s: string, w: number): string {
  return s + ' '.repeat(Math.max(0, w - width(s)));
}

export function padStart(s: string, w: number): string {
  return ' '.repeat(Math.max(0, w - width(s))) + s;
}

/** Cuts to at most `w` columns, marking the cut with … (or ~ in ASCII); never splits a wide character. */
export function truncate(s: string, w: number, ascii = false): string {
  if (width(s) <= w) return s;
  if (w <= 0) return '';
  const mark = ascii ? '~' : '…';
  let out = '';
  for (const ch of s) {
    if (width(out + ch) > w - 1) break;
    out += ch;
  }
  return out + mark;
}

/** Fits to exactly `w` columns: cut when longer, padded when shorter. */
export const fit = (s: string, w: number, ascii = false) => padEnd(truncate(s, w, ascii), w);
