// Suspending and resuming a nested lab whose parent's RAM is a file (the default, given room):
// while it runs the RAM is a file in memory (a tmpfs) of its own; a suspend saves the devices
// and copies the RAM's touched pages into the VM folder, nothing into the qcow2, and leaves
// no QEMU and no RAM in memory; the child's file and every clock are right after the resume,
// every layer asked through its port shell (over SSH when one does not answer);
// a snapshot taken after it still holds the RAM (the capability that leaves shared RAM out is
// off again); the kit killed -9 in the middle of a suspend leaves a lab `up` brings back; and
// `down` removes every RAM file.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TASKS } from '../helpers/cli.ts';
import { PROJECT_ROOT, runningRamFile } from '../../tasks/util/paths.ts';
import { specLab, tinyNestVm } from '../helpers/spec-lab.ts';
import { qemusUnder } from '../helpers/vm.ts';
import { assertClockWithin } from '../helpers/clock.ts';

describe('suspend and resume with the RAM in a file', () => {
  const lab = specLab('gc-suspram-', async () => ({ name: 'ramtest', vms: [await tinyNestVm('r1', 'r2')] }));
  const { k, ok, json, states } = lab;
  const file = (name: string) => join(lab.home, 'ramtest', 'r1', name);
  const inMemory = () => runningRamFile(join(lab.home, 'ramtest', 'r1'), { ...process.env, ...lab.env });
  /** Sparse: only what the guest touched takes room. */
  const sparse = (path: string) => statSync(path).blocks * 512 < 1536 * 2 ** 20;
  it('boots the parent with its RAM mapped from a file in memory of its own, none in its folder', () => {
    // Here, not in a before hook: a failed `up` then prints its stderr first in a CI log, not after every test cancelled.
    ok(k('up'));
    assert.ok(existsSync(inMemory()), `no RAM file at ${inMemory()}`);
    assert.equal(statSync(inMemory()).size, 1536 * 2 ** 20, 'the RAM file is the guest’s memory size');
    assert.ok(sparse(inMemory()));
    assert.ok(!existsSync(file('ram')), 'a RAM file in the VM folder while it runs: the disk would be written as the guest runs');
    const planned = (json(k('explain', 'r1', '--json')) as Array<{ args: string[] }>).flatMap((x) => x.args);
    assert.ok(planned.join(' ').includes(`mem-path=${inMemory()},`), 'explain plans another RAM file than the boot mapped');
  });

  it('suspends by saving the devices and copying the touched RAM into the folder: nothing in the qcow2, no QEMU and no RAM in memory left', () => {
    ok(k('exec', 'r2', '--', 'echo before-suspend > /root/mark; sync'));
    const r = json(k('suspend', '--json'));
    assert.deepEqual(
      r.steps.map((s: { vm: string; devices?: boolean }) => [s.vm, s.devices]),
      [['r1', true]],
    );
    assert.deepEqual(qemusUnder(lab.home), [], 'a QEMU of the lab still runs');
    assert.deepEqual(states(), [
      ['r1', 'suspended'],
      ['r2', 'suspended'],
    ]);
    const devices = statSync(file('devices.state')).size;
    assert.ok(devices > 0 && devices < 16 * 2 ** 20, `the saved devices take ${devices} bytes: the RAM went in too?`);
    assert.deepEqual(json(k('snapshots', 'r1', '--json')), [], 'the suspend wrote a snapshot into the qcow2');
    assert.ok(!existsSync(inMemory()), 'the RAM in memory outlived the suspend');
    assert.equal(statSync(file('ram')).size, 1536 * 2 ** 20);
    assert.ok(sparse(file('ram')), 'the saved RAM is not sparse');
    assert.ok(statSync(file('ram')).blocks > 0, 'the saved RAM is empty');
  });

  it('records the machine type and CPU model the state needs, and refuses a resume under a QEMU without them, newer than this one, or another on the unpinned q35: exit 2, nothing started, the lab still suspended', () => {
    const recordFile = file('state.json');
    const record = readFileSync(recordFile, 'utf8');
    const saved = JSON.parse(record).saved;
    // What QEMU resolved `-machine q35` and `-cpu max` to, read from it at the suspend.
    assert.match(saved.machineType, /^pc-q35-\d+\.\d+$/);
    assert.equal(saved.cpuModel, 'max');
    assert.match(saved.qemuVersion, /^\d+\.\d+/);
    const tampered: Array<[object, RegExp]> = [
      // Another QEMU's state (the one that wrote a state offers what it needs, so only another is asked).
      [{ machineType: 'pc-q35-99.0', qemuVersion: '99.0.0' }, /needs machine type pc-q35-99\.0, which QEMU 99\.0\.0 ran; the QEMU here \(\S+\) has none/],
      [{ cpuModel: 'NoSuchCpu-v9', qemuVersion: '6.0.0' }, /needs CPU model NoSuchCpu-v9/],
      // Written by a newer QEMU: its -cpu max may have given the guest what this one lacks.
      [
        { qemuVersion: '99.0.0' },
        /written by QEMU 99\.0\.0 and the QEMU here is \S+: its CPU model max offers the guest features of QEMU 99\.0\.0 that the older QEMU \S+ may lack/,
      ],
      // An older QEMU's state on the unpinned q35 (saved before the kit pinned the type): another machine here.
      [
        { qemuVersion: '6.0.0', argv: saved.argv.map((a: string) => a.replace(/^type=pc-q35-[\d.]+,/, 'type=q35,')) },
        /written by QEMU 6\.0\.0 and the QEMU here is \S+: it ran machine type q35, which QEMU \S+ builds as another machine/,
      ],
    ];
    assert.match(saved.argv[saved.argv.indexOf('-machine') + 1], /^type=pc-q35-\d+\.\d+,/, 'the machine type pinned at the first boot');
    try {
      for (const [change, message] of tampered) {
        writeFileSync(recordFile, JSON.stringify({ ...JSON.parse(record), saved: { ...saved, ...change } }));
        const r = k('resume');
        assert.equal(r.status, 2, `${JSON.stringify(change).slice(0, 300)}: ${r.stderr}`);
        assert.match(r.stderr, message);
        assert.match(r.stderr, /up ramtest --cold/, 'no way on is named');
        assert.deepEqual(qemusUnder(lab.home), [], 'a refused resume started a QEMU');
        assert.ok(existsSync(file('devices.state')) && existsSync(file('ram')), 'a refused resume lost the saved state');
        assert.deepEqual(states(), [
          ['r1', 'suspended'],
          ['r2', 'suspended'],
        ]);
      }
    } finally {
      writeFileSync(recordFile, record);
    }
  });

  it('resumes every layer from it: the child’s file is there, clocks are the host’s, the saved devices are removed', () => {
    const r = json(k('resume', '--json'));
    // Asked through the port shells: no SSH handshake until a command wants one.
    assert.deepEqual(
      r.layers.map((l: { vm: string; via: string }) => [l.vm, l.via]),
      [
        ['r1', 'port-shell'],
        ['r2', 'port-shell'],
      ],
    );
    assert.deepEqual(
      r.status.map((s: { name: string; state: string; qmpStatus: string }) => [s.name, s.state, s.qmpStatus]),
      [
        ['r1', 'running', 'running'],
        ['r2', 'running', 'running'],
      ],
      'the status read through the port shells',
    );
    assert.deepEqual(states(), [
      ['r1', 'running'],
      ['r2', 'running'],
    ]);
    assert.equal(ok(k('exec', 'r2', '--', 'cat /root/mark')).stdout.trim(), 'before-suspend');
    for (const vm of ['r1', 'r2']) assertClockWithin(vm, () => ok(k('exec', vm, '--', 'date +%s')).stdout, 2);
    assert.ok(!existsSync(file('devices.state')), 'the saved devices outlived the resume');
    assert.ok(!existsSync(file('ram')), 'the saved RAM outlived the resume');
    assert.ok(existsSync(inMemory()), 'the resumed guest’s RAM is not in memory');
  });

  it('resumes over SSH when a port shell does not answer, and says so', () => {
    // The child's port shell stopped (SIGSTOP), saved so: it cannot answer after the resume.
    const shellPid = 'for p in /proc/[0-9]*; do case "$(readlink $p/fd/0 2>/dev/null)" in /dev/vport*) echo "$p" | cut -d/ -f3;; esac; done';
    const pid = ok(k('exec', 'r2', '--', shellPid)).stdout.trim();
    assert.match(pid, /^\d+$/, `no single port shell in r2: ${pid}`);
    ok(k('exec', 'r2', '--', `kill -STOP ${pid}`));
    ok(k('suspend'));
    const r = k('resume', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /asking the resumed guests over SSH: .*no answer/);
    assert.deepEqual(
      JSON.parse(r.stdout).layers.map((l: { vm: string; via: string }) => [l.vm, l.via]),
      [
        ['r1', 'ssh'],
        ['r2', 'ssh'],
      ],
    );
    assert.deepEqual(states(), [
      ['r1', 'running'],
      ['r2', 'running'],
    ]);
    ok(k('exec', 'r2', '--', `kill -CONT ${pid}`));
  });

  it('a live snapshot after the resume holds the RAM again, and restores', () => {
    ok(k('exec', 'r2', '--', 'echo at-snapshot > /root/mark; sync'));
    const name = json(k('snapshot', 'r1', '--json'))[0].name as string;
    const snap = json(k('snapshots', 'r1', '--json')).find((s: { name: string }) => s.name === name);
    // The tiny parent with a child running has touched hundreds of MiB; without its RAM a state is under 1 MiB.
    assert.ok(snap.vmStateSize > 32 * 2 ** 20, `the snapshot's VM state is ${snap.vmStateSize} bytes: the RAM was left out`);
    ok(k('exec', 'r2', '--', 'echo later > /root/mark; sync'));
    ok(k('restore', 'r1', name, '--yes'));
    assert.equal(ok(k('exec', 'r2', '--', 'cat /root/mark')).stdout.trim(), 'at-snapshot');
    ok(k('snapshot-rm', 'r1', name));
  });

  it('the kit killed -9 as it saves the devices: up brings the lab back, whichever step the kill cut', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', TASKS, '--spec', lab.spec, 'suspend'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...lab.env },
    });
    let err = '';
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        if (/devices saved/.test(err)) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    assert.match(err, /devices saved/, 'the kill came before the save began');
    ok(k('up'));
    assert.deepEqual(states(), [
      ['r1', 'running'],
      ['r2', 'running'],
    ]);
    assert.match(ok(k('exec', 'r2', '--', 'echo', 'alive')).stdout, /alive/);
  });

  it('down removes the RAM files', () => {
    ok(k('down'));
    assert.ok(!existsSync(file('ram')), 'the saved RAM outlived down');
    assert.ok(!existsSync(inMemory()), 'the RAM in memory outlived down');
    assert.ok(!existsSync(file('devices.state')));
  });
});
