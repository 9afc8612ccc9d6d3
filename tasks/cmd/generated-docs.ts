// The docs' generated parts: what lies between a page's `<!-- generated: … -->` marks and
// the code it comes from, so a page cannot drift from the kit (test/unit/docs.test.ts).
import { jsonSchema } from './schema.ts';
import { specReference } from './schema-markdown.ts';

const BEGIN = '<!-- generated: schema spec --markdown -->';
const END = '<!-- end generated -->';

/** The pages that hold generated text, and what goes between their marks. */
export const GENERATED: Record<string, () => string> = {
  'docs/spec.md': () => specReference(jsonSchema('spec')),
};

/** The page with its marked block replaced by `text` (the marks kept). */
export function withGenerated(page: string, text: string): string {
  const a = page.indexOf(BEGIN);
  const b = page.indexOf(END);
  if (a < 0 || b < a) throw new Error(`no ${BEGIN} … ${END} block`);
  return `${page.slice(0, a + BEGIN.length)}\n${text}\n${page.slice(b)}`;
}
