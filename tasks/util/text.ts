// Text from a spec or a command line that reaches a terminal, a command line or a generated
// file.  One rule for what such text may hold, and one way to show it: control characters
// become syntax somewhere (a NUL ends an argv string, a newline ends a Nix comment, an ESC
// starts a terminal sequence), so a spec refuses them and messages show them escaped.

/** C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a terminal shows. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
/** The same, less the tab and line feed a script or a paragraph may hold. */
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

export type TextKind = 'line' | 'lines';

/** Why `text` may not be used as `kind`, or undefined when it may. */
export function textProblem(text: string, kind: TextKind): string | undefined {
  const bad = (kind === 'line' ? CONTROL : CONTROL_BUT_LINES).exec(text);
  if (!bad) return undefined;
  const what = bad[0] === '\n' || bad[0] === '\r' ? 'a line break' : bad[0] === '\0' ? 'a NUL' : `the control character ${escapeChar(bad[0])}`;
  return `must not contain ${what} (at character ${bad.index + 1})${kind === 'line' ? '; it must be one line of printable text' : ''}`;
}

const escapeChar = (c: string) => {
  const code = c.codePointAt(0)!;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

const CONTROL_G = new RegExp(CONTROL.source, 'g');
const CONTROL_BUT_LINES_G = new RegExp(CONTROL_BUT_LINES.source, 'g');

/** `text` safe to print on a terminal: controls shown as \xNN (line breaks and tabs kept when `keepLines`). */
export function visible(text: string, keepLines = false): string {
  return text.replace(keepLines ? CONTROL_BUT_LINES_G : CONTROL_G, escapeChar);
}
