// Key pairs the kit makes must be ones ssh2 (and OpenSSH) can read back: ssh2's ed25519
// generator now and then drops a leading zero byte and writes a key it cannot parse.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import ssh2 from 'ssh2';
import { newEd25519Pair } from '../../tasks/ssh/keys.ts';

describe('newEd25519Pair', () => {
  it('makes 2,000 pairs that all parse, with 32-byte public keys (the raw generator fails ~1 in 400)', () => {
    for (let i = 0; i < 2000; i++) {
      const pair = newEd25519Pair('grainchart-test');
      const priv = ssh2.utils.parseKey(pair.private);
      assert.ok(!(priv instanceof Error), `pair ${i}: ${(priv as Error).message}`);
      const blob = Buffer.from(pair.public.split(' ')[1]!, 'base64');
      // string "ssh-ed25519" (4 + 11 bytes), then string key (4 + 32 bytes)
      assert.equal(blob.length, 51, `pair ${i}: public key blob of ${blob.length} bytes`);
    }
  });
});
