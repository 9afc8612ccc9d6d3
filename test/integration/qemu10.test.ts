// The kit on a second QEMU: Debian's 10.0 from bookworm-backports, unpacked beside the
// system's 7.2 into the kit's cache (scripts/unpack-qemu.sh, run by the tests' setup), never
// installed.  `doctor` passes on it (TCG is built in there, not a module); a demo-shaped nested
// lab comes up on it — the parent's QEMU is that binary with its own firmware, the child's is
// the 10.0 the parent's image carries — runs commands, suspends and resumes; and a state saved
// by one QEMU is refused by the other, exit 2, naming both, the lab still suspended and
// resumed by the QEMU that saved it.  The upgrade: a lab first booted under 7.2 runs the
// machine type pinned then (pc-q35-7.2), so its state resumes under 10.0, and 10.0's state is
// refused by 7.2 (its -cpu max has more).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kit } from '../helpers/cli.ts';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';
import { specLab, tinyNestVm } from '../helpers/spec-lab.ts';
import { qemusUnder } from '../helpers/vm.ts';

describe('a second QEMU (10.0, unpacked beside the system’s)', () => {
  let q10 = '';
  let v10 = '';
  const lab = specLab('gc-qemu10-', async () => ({ name: 'q10', vms: [await tinyNestVm('q1', 'q2')] }));
  /** The kit on QEMU 10 (GRAINCHART_QEMU), or on the system's ('' unsets it). */
  const on = (qemu: string, ...args: string[]) => kit(['--spec', lab.spec, ...args], { env: { ...lab.env, GRAINCHART_QEMU: qemu } });
  const ok = (r: ReturnType<typeof kit>) => {
    assert.equal(r.status, 0, r.stderr);
    return r;
  };
  const states = (qemu: string) =>
    (JSON.parse(ok(on(qemu, 'status', '--json')).stdout) as Array<{ name: string; state: string }>).map((r) => [r.name, r.state]);
  const v72 = execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).match(/version (\S+)/)![1]!;

  before(() => {
    // Already there after the setup: this only prints its path.
    q10 = execFileSync('bash', [join(PROJECT_ROOT, 'scripts/unpack-qemu.sh'), '--quiet'], { encoding: 'utf8' }).trim();
    v10 = execFileSync(q10, ['--version'], { encoding: 'utf8' }).match(/version (\S+)/)![1]!;
    assert.match(v10, /^10\./);
  });

  it('doctor passes on it, naming it and where it was chosen', () => {
    const r = ok(kit(['doctor'], { env: { ...lab.env, GRAINCHART_QEMU: q10 } }));
    assert.match(r.stdout + r.stderr, new RegExp(`OK\\s+qemu-system-x86_64\\s+${v10.replaceAll('.', '\\.')} \\(${q10}, from GRAINCHART_QEMU\\)`));
    assert.match(r.stdout + r.stderr, /OK\s+tcg\s+GRAINCHART_QEMU's QEMU lists tcg/);
  });

  it('a spec’s host.qemu is the binary explain plans, with its own firmware first', () => {
    const spec = join(lab.home, 'explain.json');
    writeFileSync(spec, JSON.stringify({ name: 'x10', host: { qemu: q10 }, vms: [{ name: 'x', boot: { image: 'tiny' }, vga: 'none' }] }));
    const env = { ...lab.env, GRAINCHART_QEMU: '' };
    const plan = JSON.parse(ok(kit(['--spec', spec, 'explain', 'x', '--json'], { env })).stdout) as Array<{ section: string; args: string[] }>;
    assert.deepEqual(plan.find((s) => s.section === 'data')?.args, ['-L', join(q10, '../../share/qemu'), '-L', join(q10, '../../share/seabios')]);
    // Pasted into sh, it runs as the kit runs it: its modules named first.
    assert.deepEqual(
      ok(kit(['--spec', spec, 'explain', 'x', '--shell'], { env }))
        .stdout.split(' ')
        .slice(0, 2),
      [`QEMU_MODULE_DIR=${join(q10, '../../lib/x86_64-linux-gnu/qemu')}`, q10],
    );
  });

  it('runs the nested lab on it: up, a command in the child, suspend, resume with the child’s file kept', () => {
    ok(on(q10, 'up'));
    const [pid] = qemusUnder(lab.home);
    assert.equal(readlinkSync(`/proc/${pid}/exe`), q10, 'the parent runs on another QEMU');
    assert.match(
      ok(on(q10, 'exec', 'q1', '--', 'qemu-system-x86_64 --version')).stdout,
      new RegExp(`version ${v10.replaceAll('.', '\\.')}`),
      'the parent’s image carries another QEMU',
    );
    ok(on(q10, 'exec', 'q2', '--', 'echo kept > /root/f; sync'));
    ok(on(q10, 'suspend'));
    assert.deepEqual(qemusUnder(lab.home), []);
    ok(on(q10, 'resume'));
    assert.equal(ok(on(q10, 'exec', 'q2', '--', 'cat /root/f')).stdout.trim(), 'kept');
  });

  it('refuses to resume under another QEMU (exit 2, both named, nothing started), and resumes under the one that saved it', () => {
    ok(on(q10, 'suspend'));
    const r = on('', 'resume');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`QEMU ${v10.replaceAll('.', '\\.')}.*${v72.replaceAll('.', '\\.')}`));
    assert.match(r.stderr, /hint: resume it under the QEMU that saved it/);
    assert.deepEqual(qemusUnder(lab.home), []);
    assert.deepEqual(states(q10), [
      ['q1', 'suspended'],
      ['q2', 'suspended'],
    ]);
    ok(on(q10, 'resume'));
    assert.equal(ok(on(q10, 'exec', 'q2', '--', 'cat /root/f')).stdout.trim(), 'kept');
    ok(on(q10, 'down'));
    assert.deepEqual(qemusUnder(lab.home), []);
  });

  it('the upgrade: a lab first booted under the system’s QEMU keeps its machine type, resumes under 10.0, and is not moved back', () => {
    ok(on('', 'up', '--fresh'));
    const argvOf = () => readFileSync(`/proc/${qemusUnder(lab.home)[0]}/cmdline`, 'utf8').split('\0');
    const pinned = `pc-q35-${v72.split('.').slice(0, 2).join('.')}`;
    assert.match(
      argvOf()[argvOf().indexOf('-machine') + 1]!,
      new RegExp(`^type=${pinned.replaceAll('.', '\\.')},`),
      'q35 resolved and pinned at the first boot',
    );
    ok(on('', 'exec', 'q2', '--', 'echo old > /root/g; sync'));
    ok(on('', 'suspend'));
    ok(on(q10, 'resume'));
    assert.equal(readlinkSync(`/proc/${qemusUnder(lab.home)[0]}/exe`), q10, 'resumed by 10.0');
    assert.equal(ok(on(q10, 'exec', 'q2', '--', 'cat /root/g')).stdout.trim(), 'old', 'the child runs on where it was');
    // Saved by 10.0 now: its -cpu max has 10.0's features, which 7.2 may lack.
    ok(on(q10, 'suspend'));
    const back = on('', 'resume');
    assert.equal(back.status, 2, back.stderr);
    assert.match(
      back.stderr,
      new RegExp(`written by QEMU ${v10.replaceAll('.', '\\.')} and the QEMU here is ${v72.replaceAll('.', '\\.')}: its CPU model max`),
    );
    assert.deepEqual(qemusUnder(lab.home), []);
    ok(on(q10, 'resume'));
    ok(on(q10, 'down'));
    // The next cold boot under 10.0 runs the pinned type still (as explain plans it from the record).
    const plan = JSON.parse(ok(on(q10, 'explain', 'q1', '--json')).stdout) as Array<{ section: string; args: string[] }>;
    assert.match(plan.find((x) => x.section === 'machine')!.args[1]!, new RegExp(`^type=${pinned.replaceAll('.', '\\.')},`));
  });
});
