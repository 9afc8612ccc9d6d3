// child-reachable: a child's sshd, asked from inside its parent, may answer only on a later
// try (right after a golden snapshot one was seen silent for over 10 s); it passes, and its
// line says on which try and after how long.  A stream that closes without a banner is no
// answer.  (Real guests: the smoke and libvirt suites.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { childBanner } from '../../tasks/smoke/checks.ts';
import type { Guest } from '../../tasks/ssh/guest.ts';

/** A parent whose forwardOut gives, try after try, a stream that closes silently, then one with a banner. */
function parent(silentTries: number) {
  let tries = 0;
  const g = {
    forwardOut: async () => {
      const s = new PassThrough();
      const n = ++tries;
      setImmediate(() => (n <= silentTries ? s.end() : s.write('SSH-2.0-dropbear\r\n')));
      return s;
    },
  } as unknown as Guest;
  return { g, tries: () => tries };
}

describe('childBanner', () => {
  it('gives the banner of a child that answers at once, as it is', async () => {
    const p = parent(0);
    assert.equal(await childBanner(p.g, 2224, 'l2'), 'SSH-2.0-dropbear');
    assert.equal(p.tries(), 1);
  });
  it('tries again when the first connection closes without a banner, and says it did', async () => {
    const p = parent(1);
    const banner = await childBanner(p.g, 2224, 'l2');
    assert.match(banner, /^SSH-2\.0-dropbear \(on try 2, after \d+\.\d s\)$/);
    assert.equal(p.tries(), 2);
  });
});
