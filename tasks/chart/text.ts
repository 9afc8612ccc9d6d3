// Text measured as a terminal shows it: every cell goes through string-width, so emoji and
// CJK labels (two columns) and ANSI colour codes (zero) keep columns aligned.
import stringWidth from 'string-width';

/**
 * Printable ASCII and the narrow symbols charts draw (middle dot, ellipsis, arrows, box
 * drawing, block elements, circles): one column each, as string-width says.  A string of
 * only these is as wide as it is long, which spares string-width's slower path on the
 * common case (a 1,000-VM alloc chart measures thousands of bar lines).
 */
const NARROW_ONLY = /^[\x20-\x7e\u00b7\u2026\u2190-\u21ff\u2500-\u259f\u25cb\u25cf]*$/;

export const width = (s: string) => (NARROW_ONLY.test(s) ? s.length : stringWidth(s));

/** Pads with spaces to `w` columns (never cuts). */
export function padEnd(s: string, w: number): string {
  return s + ' '.repeat(Math.max(0, w - width(s)));
}

export function padStart(s: string, w: number): string {
  return ' '.repeat(Math.max(0, w - width(s))) + s;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Cuts to at most `w` columns, marking the cut with … (or ~ in ASCII); never splits a wide
 * character or an emoji sequence.  Measures grapheme by grapheme: linear in the length.
 */
export function truncate(s: string, w: number, ascii = false): string {
  if (width(s) <= w) return s;
  if (w <= 0) return '';
  const mark = ascii ? '~' : '…';
  let out = '';
  let used = 0;
  for (const { segment } of graphemes.segment(s)) {
    const cw = width(segment);
    if (used + cw > w - 1) break;
    out += segment;
    used += cw;
  }
  return out + mark;
}

/** Fits to exactly `w` columns: cut when longer, padded when shorter. */
export const fit = (s: string, w: number, ascii = false) => padEnd(truncate(s, w, ascii), w);
