// A parent lost while its child boots, for real: under TCG's emulated SVM a Debian parent's
// kernel can panic while it runs its child's KVM (seen here: "corrupted stack end detected
// inside scheduler"), and the kit used to wait ~10 min for the dead SSH session.  Here the
// tiny parent is made to panic on purpose (an NMI that no handler claims, with
// unknown_nmi_panic set) once its child's QEMU has started inside it: `up` must see the
// parent's panic on its serial console at once, boot the parent again, then the child, and
// finish with every layer answering.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { TASKS } from '../helpers/cli.ts';
import { specLab, tinyNestVm } from '../helpers/spec-lab.ts';
import { PROJECT_ROOT, vmPaths } from '../../tasks/kit/paths.ts';
import { readState } from '../../tasks/kit/vm-state.ts';
import { qmpOnce } from '../../tasks/kit/qmp.ts';

describe('a parent lost while its child boots', () => {
  const lab = specLab('gc-plost-', async () => ({
    name: 'pltest',
    vms: [await tinyNestVm('p', 'c')],
  }));
  const { k, ok, states } = lab;
  const kitAsync = (...args: string[]) => spawn(process.execPath, ['--import', 'tsx', TASKS, '--spec', lab.spec, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, ...lab.env }, stdio: ['ignore', 'pipe', 'pipe'] });

  it('up boots the parent again, once, then the child, when the parent panics during the child’s boot', async () => {
    const up = kitAsync('up');
    let stderr = '';
    up.stderr.on('data', (d) => (stderr += d));
    up.stdout.resume();
    const done = new Promise<number | null>((resolve) => up.once('exit', resolve));
    const limit = setTimeout(() => up.kill('SIGINT'), 420_000);
    try {
      // The child's QEMU has started inside the parent once its record says booting.
      const child = vmPaths(lab.home, 'pltest', 'c');
      for (const t0 = Date.now(); readState(child)?.phase !== 'booting'; await new Promise((r) => setTimeout(r, 200)))
        assert.ok(Date.now() - t0 < 300_000, `c never began to boot:\n${stderr}`);
      const arm = await new Promise<number | null>((resolve) => {
        kitAsync('exec', 'p', '--', 'echo 1 > /proc/sys/kernel/unknown_nmi_panic').once('exit', resolve);
      });
      assert.equal(arm, 0, 'could not arm the parent’s panic');
      await qmpOnce(vmPaths(lab.home, 'pltest', 'p').qmp, 'inject-nmi');
      const code = await done;
      assert.equal(code, 0, `up failed:\n${stderr}`);
    } finally {
      clearTimeout(limit);
    }
    assert.match(stderr, /p's kernel panicked \(Kernel panic - not syncing: [^\n]*\), and c with it; booting p again, once, then its children/);
    assert.deepEqual(states(), [
      ['p', 'running'],
      ['c', 'running'],
    ]);
    assert.equal(ok(k('exec', 'c', '--', 'hostname')).stdout.trim(), 'c');
  });
});
