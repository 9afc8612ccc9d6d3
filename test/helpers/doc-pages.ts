// The user-facing pages and what the doc tests take from them.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';

/** README.md and docs/*.md (not the generated lab reports under docs/labs/). */
export const userPages = (): string[] => [
  'README.md',
  ...readdirSync(join(PROJECT_ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The JSON specs in the README's "Your first lab" section, in order. */
export function firstLabSpecs(readme: string): string[] {
  const start = readme.indexOf('## Your first lab');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** A fenced shell block's commands: `$ ` prompts and comments dropped, continued lines joined. */
export function shellCommands(page: string): string[] {
  const blocks = [...page.matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.flatMap((b) =>
    b
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .map((l) =>
        l
          .replace(/^\$ /, '')
          .replace(/\s+#.*$/, '')
          .trim(),
      )
      .filter((l) => l && !l.startsWith('#')),
  );
}
