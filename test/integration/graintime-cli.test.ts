// The graintime task as a user runs it: a stamp, its fields, and clear errors with exit 2.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kit } from '../helpers/cli.ts';

const env = { GRAINTIME_CONFIG: '/nonexistent/graintime.json', USER: 'tester' };

describe('graintime task', () => {
  it('prints a stamp for --at and the same stamp parses back to the --json fields', () => {
    const r = kit(['graintime', '--at', '2025-11-02T15:15:00-08:00', '--json'], { env });
    assert.equal(r.status, 0, r.stderr);
    const g = JSON.parse(r.stdout);
    assert.match(g.stamp, /^12025-11-02--1515--pst--moon-[a-z_]+--asc-[a-z_]{4}\d\d--sun-\d\dh--tester$/);
    assert.deepEqual(g.sources, { latitude: 'default', longitude: 'default', timeZone: 'default', author: 'default' });
    const p = kit(['graintime', 'parse', g.stamp, '--json'], { env });
    assert.equal(p.status, 0, p.stderr);
    const parsed = JSON.parse(p.stdout);
    for (const [k, v] of Object.entries(g.fields)) assert.equal(parsed[k], v, k);
    assert.equal(parsed.date, '2025-11-02 15:15 pst');
    const human = kit(['graintime', '--at', '2025-11-02T23:15Z'], { env });
    assert.equal(human.stdout.trim(), g.stamp);
  });

  it('refuses bad input with exit 2, naming what is wrong', () => {
    const cases: [string[], RegExp][] = [
      [['graintime', 'parse', '12025-11-02--1515--pdt--moon-nowhere--asc-pisc00--sun-09h--kae3g'], /moon: "nowhere" is not a nakshatra/],
      [['graintime', 'parse'], /needs a STAMP/],
      [['graintime', 'frobnicate'], /unknown action "frobnicate"/],
      [['graintime', '--at', 'yesterday'], /--at: "yesterday" is not an ISO-8601 instant/],
      [['graintime', '--at', '2025-02-30T00:00Z'], /--at/],
      [['graintime', '--lat', '91'], /--lat/],
      [['graintime', '--tz', 'Mars/Olympus'], /unknown time zone/],
    ];
    for (const [args, message] of cases) {
      const r = kit(args, { env });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
  });
});
