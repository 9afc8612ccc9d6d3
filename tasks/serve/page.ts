// The page, assembled from its three files beside this one (page.html, page.css, page.js:
// plain files, no build step) with a fresh nonce per response, which the Content-Security-
// Policy allows and nothing else: no other script, style or host, so the page asks nothing of
// anyone but this server.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { esc } from '../doc/svg.ts';
import { PROJECT_ROOT } from '../util/paths.ts';

// From the sources' folder, not beside this module: the compiled copy (build/js) runs this code too.
const here = (f: string) => join(PROJECT_ROOT, 'tasks', 'serve', f);
let files: { html: string; css: string; js: string } | undefined;

/** The HTML of the page for `lab`, and the header that lets its inline script and style run. */
export function pageFor(lab: string): { html: string; csp: string } {
  files ??= { html: readFileSync(here('page.html'), 'utf8'), css: readFileSync(here('page.css'), 'utf8'), js: readFileSync(here('page.js'), 'utf8') };
  const nonce = randomBytes(16).toString('base64');
  // Each placeholder once, by function: a "$&" in the script is not a replacement pattern.
  const html = files.html
    .replaceAll('{{NONCE}}', nonce)
    .replaceAll('{{LAB}}', esc(lab))
    .replace('/*STYLE*/', () => files!.css)
    .replace('/*SCRIPT*/', () => files!.js.replaceAll('</script', '<\\/script'));
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    'img-src data:',
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}
