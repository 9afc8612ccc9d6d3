// A parent lost while its child boots, for real: under TCG's emulated SVM a Debian parent's
// kernel can panic while it runs its child's KVM (seen here: "corrupted stack end detected
// inside scheduler"), and the kit used to wait ~10 min for the dead SSH session.  Here the
// tiny parent is made to panic on purpose (an NMI that no handler claims, with
// unknown_nmi_panic set) once its child's QEMU has started inside it: `up` must see the
// parent's panic on its serial console at once, boot the parent again, then the child, and
// finish with every layer answering.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kit, TASKS } from '../helpers/cli.ts';
import { freePort, qemusUnder } from '../helpers/vm.ts';
import { PROJECT_ROOT, vmPaths } from '../../tasks/kit/paths.ts';
import { readState } from '../../tasks/kit/vm-state.ts';
import { qmpOnce } from '../../tasks/kit/qmp.ts';

describe('a parent lost while its child boots', () => {
  let home: string;
  let spec: string;
  const env = () => ({ GRAINCHART_HOME: home });
  const k = (...args: string[]) => kit(['--spec', spec, ...args], { env: env() });
  const ok = (r: ReturnType<typeof kit>) => {
    assert.equal(r.status, 0, r.stderr);
    return r;
  };

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'gc-plost-'));
    spec = join(home, 'plost.json');
    writeFileSync(
      spec,
      JSON.stringify({
        name: 'pltest',
        vms: [
          {
            name: 'p',
            cpus: 2,
            memory: '1536M',
            boot: { image: 'tiny-nest' },
            vga: 'none',
            network: { sshPort: await freePort() },
            children: [{ name: 'c', cpus: 1, memory: 512, boot: { image: 'tiny' }, vga: 'none', network: { sshPort: 2224 } }],
          },
        ],
      }),
    );
  });
  after(() => {
    kit(['--spec', spec, 'down', '--force'], { env: env() });
    for (const pid of qemusUnder(home)) process.kill(pid, 'SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  it('up boots the parent again, once, then the child, when the parent panics during the child’s boot', async () => {
    const up = spawn(process.execPath, ['--import', 'tsx', TASKS, '--spec', spec, 'up'], { cwd: PROJECT_ROOT, env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    up.stderr.on('data', (d) => (stderr += d));
    up.stdout.resume();
    const done = new Promise<number | null>((resolve) => up.once('exit', resolve));
    const limit = setTimeout(() => up.kill('SIGINT'), 420_000);
    try {
      // The child's QEMU has started inside the parent once its record says booting.
      const child = vmPaths(home, 'pltest', 'c');
      for (const t0 = Date.now(); readState(child)?.phase !== 'booting'; await new Promise((r) => setTimeout(r, 200)))
        assert.ok(Date.now() - t0 < 300_000, `c never began to boot:\n${stderr}`);
      const arm = await new Promise<number | null>((resolve) => {
        const p = spawn(process.execPath, ['--import', 'tsx', TASKS, '--spec', spec, 'exec', 'p', '--', 'echo 1 > /proc/sys/kernel/unknown_nmi_panic'], { cwd: PROJECT_ROOT, env: { ...process.env, ...env() }, stdio: 'ignore' });
        p.once('exit', resolve);
      });
      assert.equal(arm, 0, 'could not arm the parent’s panic');
      await qmpOnce(vmPaths(home, 'pltest', 'p').qmp, 'inject-nmi');
      const code = await done;
      assert.equal(code, 0, `up failed:\n${stderr}`);
    } finally {
      clearTimeout(limit);
    }
    assert.match(stderr, /p's kernel panicked \(Kernel panic - not syncing: [^\n]*\), and c with it; booting p again, once, then its children/);
    const rows = JSON.parse(ok(k('status', '--json')).stdout).map((r: { name: string; state: string }) => [r.name, r.state]);
    assert.deepEqual(rows, [
      ['p', 'running'],
      ['c', 'running'],
    ]);
    assert.equal(ok(k('exec', 'c', '--', 'hostname')).stdout.trim(), 'c');
  });
});
