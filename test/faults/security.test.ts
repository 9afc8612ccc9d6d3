// Security: forwards on 127.0.0.1 only, private modes on state, sockets and keys, a changed
// guest host key refused, and names that cannot carry shell syntax.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kit, succeeded } from '../helpers/cli.ts';
import { tinyLab, type TestLab } from '../helpers/vm.ts';
import { NAME_RE } from '../../tasks/spec/schema.ts';

describe('security', () => {
  let lab: TestLab & { ports: Record<string, number> };
  const k = (...args: string[]) => kit(['--spec', lab.spec, ...args], { env: lab.env });
  before(async () => {
    lab = await tinyLab('sec', [{ name: 's1' }]);
    succeeded(k('boot', 's1', '--quiet'));
  });
  after(() => {
    k('stop', 's1', '--force');
    lab.cleanup();
  });

  it('every forward listens on 127.0.0.1 only (ss -ltn)', () => {
    const port = lab.ports.s1!;
    const listening = spawnSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' })
      .stdout.trim()
      .split('\n')
      .map((l) => l.split(/\s+/)[3]);
    assert.deepEqual(listening, [`127.0.0.1:${port}`]);
  });

  it('state files, sockets and keys are 0600, folders 0700', () => {
    const vm = join(lab.home, 'sec', 's1');
    for (const f of ['state.json', 'qmp.sock', 'qemu.pid', 'serial.log', 'qemu.stderr', 'root.qcow2'])
      assert.equal(statSync(join(vm, f)).mode & 0o777, 0o600, f);
    for (const d of [join(lab.home, 'sec'), vm, join(lab.home, 'sec', 'ssh')]) assert.equal(statSync(d).mode & 0o777, 0o700, d);
    assert.equal(statSync(join(lab.home, 'sec', 'ssh', 'id_ed25519')).mode & 0o777, 0o600);
  });

  it('refuses a guest whose host key changed, saying so', () => {
    const known = join(lab.home, 'sec', 'ssh', 'known_hosts');
    const original = readFileSync(known, 'utf8');
    // Another key under the VM's alias: as if another machine answered on its port.
    writeFileSync(known, original.replace(/(s1\.sec\.grainchart ssh-ed25519 )\S+/, '$1AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake'));
    const r = k('exec', 's1', '--', 'true');
    writeFileSync(known, original);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /host key .* does not match the pinned one/);
    succeeded(k('exec', 's1', '--', 'true'), 'the right key works again');
  });

  it('lab and VM names cannot carry anything a shell would read', () => {
    for (const c of [
      ';',
      '&',
      '|',
      '$',
      '`',
      '(',
      ')',
      '<',
      '>',
      ' ',
      '\t',
      '\n',
      '"',
      "'",
      '\\',
      '*',
      '?',
      '[',
      ']',
      '{',
      '}',
      '~',
      '#',
      '!',
      '/',
      '.',
      ',',
      ':',
      '=',
    ])
      assert.equal(NAME_RE.test(`a${c}b`), false, JSON.stringify(c));
    assert.equal(NAME_RE.test('l2-debian'), true);
  });
});
