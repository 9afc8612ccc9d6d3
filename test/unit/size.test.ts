import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSize, formatBytes, GiB, MiB } from '../../tasks/spec/size.ts';

describe('parseSize', () => {
  it('reads units as binary, as QEMU does', () => {
    assert.deepEqual(parseSize('8G', 'M'), { ok: true, bytes: 8 * GiB });
    assert.deepEqual(parseSize('512M', 'B'), { ok: true, bytes: 512 * MiB });
    assert.deepEqual(parseSize('40GiB', 'B'), { ok: true, bytes: 40 * GiB });
    assert.deepEqual(parseSize('1.5g', 'B'), { ok: true, bytes: 1.5 * GiB });
  });
  it('gives a bare number the unit of its tool', () => {
    assert.deepEqual(parseSize(8192, 'M'), { ok: true, bytes: 8 * GiB });
    assert.deepEqual(parseSize('8192', 'M'), { ok: true, bytes: 8 * GiB });
    assert.deepEqual(parseSize(4096, 'B'), { ok: true, bytes: 4096 });
  });
  it('refuses what is not a size', () => {
    for (const bad of [-1, 0, '0G', '-5G', 'lots', '8X', '', NaN, true, null, '1.5', 2.5, 1e300])
      assert.equal(parseSize(bad, 'B').ok, false, `accepted ${String(bad)}`);
  });
});

describe('formatBytes', () => {
  it('picks the largest whole-ish unit', () => {
    assert.equal(formatBytes(8 * GiB), '8 GiB');
    assert.equal(formatBytes(512 * MiB), '512 MiB');
    assert.equal(formatBytes(1.5 * GiB), '1.5 GiB');
    assert.equal(formatBytes(100), '100 B');
  });
});
