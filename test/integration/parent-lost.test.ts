// A parent lost while its child boots, for real: under TCG's emulated SVM a Debian parent's
// kernel can panic while it runs its child's KVM (seen here: "corrupted stack end detected
// inside scheduler"), and the kit used to wait ~10 min for the dead SSH session.  Here the
// tiny parent is made to panic on purpose (an NMI that no handler claims, with
// unknown_nmi_panic set) once its child's QEMU has started inside it: `up` must see the
// parent's panic on its serial console at once, boot the parent again, then the child, and
// finish with every layer answering.  And when the parent panics while `down` stops its
// child, down must say so within seconds (not wait a minute for the dead session) and still
// bring the whole lab down.  A parent can also hang without a word on its console (seen here:
// a tiny parent that was starting its child's KVM QEMU never answered again): here its vCPUs
// are paused, and `up` must find, once the child's boot fails, that the parent runs nothing,
// and boot it again the same way.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { TASKS } from '../helpers/cli.ts';
import { specLab, tinyNestVm } from '../helpers/spec-lab.ts';
import { qemusUnder } from '../helpers/vm.ts';
import { PROJECT_ROOT, vmPaths } from '../../tasks/util/paths.ts';
import { readState } from '../../tasks/machine/record.ts';
import { qmpOnce } from '../../tasks/qemu/qmp.ts';

describe('a parent lost while its child boots', () => {
  const lab = specLab('gc-plost-', async () => ({
    name: 'pltest',
    vms: [await tinyNestVm('p', 'c')],
  }));
  const { k, ok, states } = lab;
  const kitAsync = (...args: string[]) =>
    spawn(process.execPath, ['--import', 'tsx', TASKS, '--spec', lab.spec, ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...lab.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** p's files (its state folder is made before the tests). */
  const parent = () => vmPaths(lab.home, 'pltest', 'p');

  /** Runs the task in the background, does `meanwhile` to the lab as it runs, and asserts the task exited 0. */
  async function whileRunning(args: string[], meanwhile: (stderr: () => string) => Promise<void>): Promise<{ stdout: string; stderr: string }> {
    const task = kitAsync(...args);
    let stdout = '';
    let stderr = '';
    task.stdout.on('data', (d) => (stdout += d));
    task.stderr.on('data', (d) => (stderr += d));
    const done = new Promise<number | null>((resolve) => task.once('exit', resolve));
    const limit = setTimeout(() => task.kill('SIGINT'), 420_000);
    try {
      await meanwhile(() => stderr);
      assert.equal(await done, 0, `${args[0]} failed:\n${stderr}`);
    } finally {
      clearTimeout(limit);
    }
    return { stdout, stderr };
  }

  /** The child's QEMU has started inside the parent once its record says booting. */
  async function childBooting(stderr: () => string): Promise<void> {
    const child = vmPaths(lab.home, 'pltest', 'c');
    for (const t0 = Date.now(); readState(child)?.phase !== 'booting'; await sleep(200))
      assert.ok(Date.now() - t0 < 300_000, `c never began to boot:\n${stderr()}`);
  }

  it('up boots the parent again, once, then the child, when the parent panics during the child’s boot', async () => {
    const { stderr } = await whileRunning(['up'], async (err) => {
      await childBooting(err);
      const arm = await new Promise<number | null>((resolve) => {
        kitAsync('exec', 'p', '--', 'echo 1 > /proc/sys/kernel/unknown_nmi_panic').once('exit', resolve);
      });
      assert.equal(arm, 0, 'could not arm the parent’s panic');
      await qmpOnce(parent().qmp, 'inject-nmi');
    });
    assert.match(stderr, /p's kernel panicked \(Kernel panic - not syncing: [^\n]*\), and c with it; booting p again, once, then its children/);
    assert.deepEqual(states(), [
      ['p', 'running'],
      ['c', 'running'],
    ]);
    assert.equal(ok(k('exec', 'c', '--', 'hostname')).stdout.trim(), 'c');
  });

  it('down takes the child down with its parent when the parent panics while the child is being stopped', async () => {
    // c no longer hears its power button, so its stop waits out the 10 s power-off inside p.
    ok(k('exec', 'c', '--', 'killall acpid'));
    ok(k('exec', 'p', '--', 'echo 1 > /proc/sys/kernel/unknown_nmi_panic'));
    // dropbear logs each login on p's console: down's own session into p is the next one.
    const logins = () => (readFileSync(parent().serial, 'utf8').match(/Pubkey auth succeeded/g) ?? []).length;
    const before = logins();
    const { stdout, stderr } = await whileRunning(['down', '--json'], async (err) => {
      for (const t0 = Date.now(); logins() === before; await sleep(100)) assert.ok(Date.now() - t0 < 60_000, `down never logged into p:\n${err()}`);
      // Inside c's power-off wait: c's QEMU was asked, and p is polled for it.
      await sleep(2000);
      await qmpOnce(parent().qmp, 'inject-nmi');
    });
    const steps = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.event === 'step');
    // The panic is read off p's console; a down that waited for the dead session instead would say "p stopped answering".
    const c = steps.find((s) => s.vm === 'c');
    assert.match(c?.how ?? '', /^parent-down \(p's kernel panicked \(Kernel panic - not syncing: /, `c's step: ${JSON.stringify(c)}\n${stderr}`);
    assert.deepEqual(states(), [
      ['p', 'stopped'],
      ['c', 'stopped'],
    ]);
    assert.deepEqual(qemusUnder(lab.home), [], 'a QEMU of the lab still runs');
  });

  it('up boots the parent again when it stops answering (its vCPUs paused) during the child’s boot', async () => {
    const { stderr } = await whileRunning(['up'], async (err) => {
      await childBooting(err);
      // QEMU runs on and says nothing; the guest answers nothing.
      await qmpOnce(parent().qmp, 'stop');
    });
    assert.match(stderr, /p stopped answering \(no command ran in it within 20 s; its QEMU runs on\), and c with it; booting p again, once, then its children/);
    assert.deepEqual(states(), [
      ['p', 'running'],
      ['c', 'running'],
    ]);
    assert.equal(ok(k('exec', 'c', '--', 'hostname')).stdout.trim(), 'c');
  });
});
