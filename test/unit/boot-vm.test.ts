// The boot stages, written once for every machine, against a fake one: what is refused
// before QEMU starts, how a start that fails or a guest that dies is reported, and that a
// failed boot never leaves its QEMU behind.
import { describe, it } from 'node:test';
import { rmSync } from 'node:fs';
import assert from 'node:assert/strict';
import { bootOn, type PrepareInputs } from '../../tasks/vm/boot-on.ts';
import { bootBudgetMs, hangCutMs } from '../../tasks/vm/boot-stages.ts';
import { bootAgainFor, vcpuLine } from '../../tasks/vm/boot-failure.ts';
import { GuestPanicked, ParentLost, TaskError, TimedOut } from '../../tasks/util/errors.ts';
import { kernelPanic } from '../../tasks/machine/kernel-panic.ts';
import { resolveLab } from '../../tasks/spec/resolve.ts';
import { findVm } from '../../tasks/spec/tree.ts';
import { kitPaths } from '../../tasks/util/paths.ts';
import { readState } from '../../tasks/machine/record.ts';
import { FakeMachine, type FakeBehaviour } from '../helpers/fake-machine.ts';
import { suiteHome } from '../helpers/vm.ts';

const msr =
  "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nqemu-system-x86_64: kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.";
const noInputs: PrepareInputs = async () => ({ inputs: {} });

/** Any readable file of this host: a boot checks that the files a spec names are there, whatever machine runs it. */
const KERNEL = process.execPath;

describe('bootOn', () => {
  const h = suiteHome('gc-bootvm-');

  // No SSH forward: ready when QEMU lives and QMP says running, so no guest is needed.
  const lab = (extra: Record<string, unknown> = {}) =>
    resolveLab({ name: 'b', vms: [{ name: 'v', boot: { kernel: KERNEL, append: '' }, memory: 256, ...extra }] }, { cpus: 2, memoryMiB: 4096 }, 'test');
  const boot = async (b: FakeBehaviour, extra: Record<string, unknown> = {}, more: { loadvm?: string } = {}) => {
    const m = new FakeMachine(h.dir, b);
    const l = lab(extra);
    const warnings: string[] = [];
    const result = await bootOn(m, l, findVm(l, 'v')!, noInputs, { quiet: true, timeoutS: 5, warn: (w) => warnings.push(w), ...more }).then(
      (r) => r,
      (e: Error & { hint?: string }) => e,
    );
    return { m, result, warnings, record: readState(kitPaths('b', 'v').vm) };
  };

  it('boots when QEMU lives and QMP says running, and records it running', async () => {
    const { m, result, record } = await boot({});
    assert.ok(!(result instanceof Error), String(result));
    assert.equal(result.pid, 4242);
    assert.deepEqual(m.calls.slice(0, 2), ['prepare', 'start']);
    assert.equal(record?.phase, 'running');
    assert.equal(m.alive, true);
  });
  it('names KVM as the cause when QEMU refuses to start under accel=kvm, and records why', async () => {
    const { m, result, record } = await boot({ refuse: { code: 1, stderr: msr } }, { accel: 'kvm' });
    assert.ok(result instanceof Error);
    assert.match(result.message, /^QEMU refused to start under accel=kvm: KVM is unusable here/);
    assert.equal(result.hint, 'set accel: auto or tcg for v');
    assert.ok(m.calls.includes('clean'), 'a refused start leaves no runtime files');
    assert.deepEqual([record?.phase, record?.failure?.slice(0, 22)], ['failed', 'QEMU refused to start ']);
  });
  it('fails at once when QEMU dies during boot, with the serial log and no stop needed', async () => {
    const { result, record, m } = await boot({ diesAfterSamples: 1 });
    assert.ok(result instanceof Error);
    assert.match(result.message, /^b\/v failed to boot after \d+\.\d s, at QEMU process is alive: QEMU exited during boot\n {2}serial console/);
    assert.equal(record?.phase, 'failed');
    assert.ok(!m.calls.includes('SIGTERM'));
  });
  it('fails when QMP reports internal-error, and stops the QEMU it started', async () => {
    const { result, m } = await boot({ qmpStatus: 'internal-error', honoursQuit: true }, { accel: 'kvm' });
    assert.ok(result instanceof Error);
    assert.match(result.message, /^b\/v failed to boot after \d+\.\d s, at QMP answers "running": the guest stopped: QMP status internal-error\n/);
    assert.match(result.hint ?? '', /KVM is unusable here .*: set accel: auto or tcg for v/);
    assert.equal(m.alive, false, 'the QEMU of a failed boot is stopped');
    assert.ok(m.calls.includes('quit'));
  });
  it('goes on when the connection to its machine drops during a stage, and says which stage it retried and why', async () => {
    const { result, record } = await boot({ dropsSamples: 2 });
    assert.ok(!(result instanceof Error), String(result));
    assert.deepEqual(result.metrics.retries, [{ stage: 'QEMU process is alive', times: 2, reason: 'Not connected' }]);
    assert.deepEqual(record?.metrics?.retries, result.metrics.retries, 'the record keeps it too');
    rmSync(kitPaths('b', 'v').vm.dir, { recursive: true, force: true }); // a running fake VM would read as crashed to the next boot
  });
  it('stops a guest whose kernel panicked during boot and boots it once more, saying so: a first boot on a new root disk, a later one on its own', async () => {
    const panicsOnce = async () => {
      const fresh: boolean[] = [];
      const spy: PrepareInputs = async (c) => {
        fresh.push(c.fresh);
        return { inputs: {} };
      };
      const m = new FakeMachine(h.dir, { panics: 1, honoursQuit: true });
      const l = lab();
      const warnings: string[] = [];
      const result = await bootOn(m, l, findVm(l, 'v')!, spy, { quiet: true, timeoutS: 5, warn: (w) => warnings.push(w) });
      return { m, result, fresh, panicked: warnings.filter((w) => /panicked/.test(w)), record: readState(kitPaths('b', 'v').vm) };
    };
    rmSync(kitPaths('b', 'v').vm.dir, { recursive: true, force: true }); // never booted: no record
    const first = await panicsOnce();
    assert.ok(!(first.result instanceof Error), String(first.result));
    assert.deepEqual(
      first.m.calls.filter((c) => c === 'start' || c === 'quit'),
      ['start', 'quit', 'start'],
    );
    assert.deepEqual(first.panicked, [
      'v: its kernel panicked during boot: Kernel panic - not syncing: Fatal exception in interrupt; its QEMU was stopped, booting it once more on a new root disk (its first boot may be half done on the old one)',
    ]);
    assert.deepEqual(first.fresh, [false, true], 'the second boot of a first boot asks for a new root disk');
    assert.equal(first.record?.phase, 'running');
    assert.equal(first.record?.metrics?.bootedAgain, 'its kernel panicked during boot: Kernel panic - not syncing: Fatal exception in interrupt');
    // Booted before (its record is there): the disk is the user's, and is kept.
    const later = await panicsOnce();
    assert.ok(!(later.result instanceof Error), String(later.result));
    assert.deepEqual(later.panicked, [
      'v: its kernel panicked during boot: Kernel panic - not syncing: Fatal exception in interrupt; its QEMU was stopped, booting it once more',
    ]);
    assert.deepEqual(later.fresh, [false, false]);
  });
  it('boots a VM whose first boot never came up on a new root disk, wherever it boots next, and keeps the disk of one that came up', async () => {
    const freshOf = async (b: FakeBehaviour) => {
      const fresh: boolean[] = [];
      const l = lab();
      const r = await bootOn(
        new FakeMachine(h.dir, b),
        l,
        findVm(l, 'v')!,
        async (c) => {
          fresh.push(c.fresh);
          return { inputs: {} };
        },
        {
          quiet: true,
          timeoutS: 5,
        },
      ).catch((e: Error) => e);
      return { failed: r instanceof Error, fresh, record: readState(kitPaths('b', 'v').vm) };
    };
    rmSync(kitPaths('b', 'v').vm.dir, { recursive: true, force: true });
    const died = await freshOf({ diesAfterSamples: 1 }); // a first boot that ends before SSH (as under a lost parent)
    assert.deepEqual([died.failed, died.fresh, died.record?.firstBoot], [true, [false], true]);
    const next = await freshOf({});
    assert.deepEqual([next.failed, next.fresh, next.record?.phase, next.record?.firstBoot], [false, [true], 'running', undefined]);
    rmSync(kitPaths('b', 'v').vm.pid, { force: true });
    const after = await freshOf({ diesAfterSamples: 1 });
    assert.deepEqual([after.failed, after.fresh, after.record?.firstBoot], [true, [false], undefined], 'a disk that came up is kept');
  });
  it('gives up after the second panic, and never boots a resume again (that would drop its saved state)', async () => {
    const twice = await boot({ panics: 2, honoursQuit: true });
    assert.ok(twice.result instanceof Error);
    assert.match(
      twice.result.message,
      /^b\/v failed to boot after \d+\.\d s, at [^:]+: its kernel panicked during boot: Kernel panic - not syncing: Fatal exception in interrupt\n/,
    );
    assert.deepEqual([twice.m.calls.filter((c) => c === 'start').length, twice.m.alive, twice.record?.phase], [2, false, 'failed']);
    const resume = await boot({ panics: 1, honoursQuit: true }, {}, { loadvm: 'saved' });
    assert.ok(resume.result instanceof Error);
    assert.deepEqual(resume.m.calls.filter((c) => c === 'start').length, 1);
  });
  /** A parent p with one child c, whose boot runs on a fake machine inside p. */
  const nested = () =>
    resolveLab(
      {
        name: 'b',
        vms: [
          {
            name: 'p',
            boot: { cloudImage: 'debian-nest' },
            memory: 2048,
            children: [{ name: 'c', boot: { kernel: KERNEL, append: '' }, memory: 256, network: { sshPort: 2222 } }],
          },
        ],
      },
      { cpus: 2, memoryMiB: 4096 },
      'test',
    );
  it('fails at once when the parent it boots in is lost, touching nothing inside it, and says so for up to boot the parent again', async () => {
    const l = nested();
    // QMP never says running: without the parent's watch this boot would wait out its budget.
    const m = new FakeMachine(
      h.dir,
      { lost: "p's kernel panicked (Kernel panic - not syncing: corrupted stack end detected inside scheduler)", qmpStatus: 'paused' },
      'p',
    );
    const t0 = Date.now();
    const keyed: PrepareInputs = async () => ({ inputs: {}, hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE5FFFtaE1q6aPUHWkuBXU801nxylULmqq/K65kyGJhp' });
    const r = await bootOn(m, l, findVm(l, 'c')!, keyed, { quiet: true, timeoutS: 60 }).catch((e: Error) => e);
    assert.ok(r instanceof ParentLost, String(r));
    assert.equal(r.parent, 'p');
    assert.match(
      r.message,
      /^b\/c failed to boot inside p after \d+\.\d s: p's kernel panicked \(Kernel panic - not syncing: corrupted stack end detected inside scheduler\), and c with it$/,
    );
    assert.match(r.hint ?? '', /down b --force, then up b/);
    assert.ok(Date.now() - t0 < 10_000, 'the boot waited on after its parent was lost');
    assert.ok(!m.calls.some((c) => ['quit', 'SIGTERM', 'SIGKILL'].includes(c)), `a stop was sent into the lost parent: ${m.calls.join(' ')}`);
    assert.equal(readState(kitPaths('b', 'c').vm)?.phase, 'failed');
    // A parent that lives is asked, and says nothing: the boot waits on (here until its own
    // short budget, the fake's sshd never answering), and its QEMU is stopped as usual.
    const live = new FakeMachine(h.dir, { honoursQuit: true }, 'p');
    const waited = await bootOn(live, l, findVm(l, 'c')!, keyed, { quiet: true, timeoutS: 2 }).catch((e: Error) => e);
    assert.ok(waited instanceof Error && !(waited instanceof ParentLost), String(waited));
    assert.match(waited.message, /timed out/);
    assert.ok(live.calls.includes('lost?'));
    assert.ok(live.calls.includes('quit'));
  });
  it('a child whose QEMU ends during boot with nothing said: the report shows the end of its parent’s kernel log', async () => {
    const l = nested();
    const log = Array.from({ length: 15 }, (_, i) => `[ ${i}.0] line ${i}`);
    log.push('[ 15.0] Out of memory: Killed process 812 (qemu-system-x86)');
    const m = new FakeMachine(h.dir, { diesAfterSamples: 1, kernelLog: `${log.join('\n')}\n` }, 'p');
    const r = await bootOn(m, l, findVm(l, 'c')!, noInputs, { quiet: true, timeoutS: 5 }).catch((e: Error) => e);
    assert.ok(r instanceof Error);
    assert.match(r.message, /QEMU exited during boot inside p\n/);
    assert.ok(
      r.message.includes(
        `  p's kernel log (dmesg, last 12 lines):\n${log
          .slice(-12)
          .map((x) => `    ${x}`)
          .join('\n')}`,
      ),
      r.message,
    );
    assert.ok(m.calls.includes('dmesg'));
  });
  it('reads a kernel panic from the serial console’s tail, and nothing else as one', () => {
    assert.equal(
      kernelPanic('[ 1.0] x\n[ 2.5] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n[ 2.5] CPU: 0 PID: 1'),
      'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)',
    );
    assert.equal(
      kernelPanic('[ 9.1] ---[ end Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100 ]---'),
      'Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100',
    );
    assert.equal(kernelPanic('[ 3.0] gc: network up, sshd starting\n[ 3.1] panic=-1 on the command line'), undefined);
  });
  it('refuses a taken port, and memory the machine lacks, before QEMU starts', async () => {
    const port = await boot({ taken: [2300] }, { network: { sshPort: 2300 } });
    assert.ok(port.result instanceof Error);
    assert.match(port.result.message, /^port 127\.0\.0\.1:2300 is taken by pid 1 \(fake\); not starting QEMU$/);
    assert.ok(!port.m.calls.includes('start'));
    const mem = await boot({}, { memory: 8192 });
    assert.ok(mem.result instanceof Error);
    assert.match(mem.result.message, /^vms\[0\]\.memory: 8192 MiB is more than this host has \(4096 MiB\)$/);
    assert.ok(!mem.m.calls.includes('start'));
  });
  it('refuses a child before it starts when its parent lacks QEMU or qemu-img, saying what to install', async () => {
    const l = resolveLab(
      {
        name: 'b',
        vms: [{ name: 'p', boot: { cloudImage: 'debian-nest' }, memory: 2048, children: [{ name: 'c', boot: { image: 'tiny' }, network: { sshPort: 2222 } }] }],
      },
      { cpus: 2, memoryMiB: 4096 },
      'test',
    );
    for (const [b, what] of [
      [{ noQemuImg: true }, 'qemu-img is'],
      [{ noQemu: true, noQemuImg: true }, 'qemu-system-x86_64 and qemu-img are'],
    ] as const) {
      const m = new FakeMachine(h.dir, b, 'p');
      const r = await bootOn(m, l, findVm(l, 'c')!, noInputs, { quiet: true }).catch((e: Error & { hint?: string }) => e);
      assert.ok(r instanceof Error);
      assert.equal(r.message, `${what} not installed on a fake machine`);
      assert.equal(r.hint, 'install it');
      assert.ok(!m.calls.includes('start'));
    }
    // This host makes overlays itself: only QEMU is needed there.
    const host = new FakeMachine(h.dir, { noQemuImg: true });
    assert.ok(!((await bootOn(host, lab(), findVm(lab(), 'v')!, noInputs, { quiet: true }).catch((e: Error) => e)) instanceof Error));
    await host.signal(host.ref(null, { vm: { name: 'v' } }), host.pid, 'SIGKILL');
  });
  it('refuses a VM that already runs on its machine', async () => {
    const first = await boot({});
    assert.ok(!(first.result instanceof Error));
    const m = new FakeMachine(h.dir, {});
    m.alive = true;
    const l = lab();
    const again = await bootOn(m, l, findVm(l, 'v')!, noInputs, { quiet: true }).catch((e: Error) => e);
    assert.ok(again instanceof Error);
    assert.match(again.message, /^v is already running \(pid 4242\)$/);
  });
  it('starts from a saved state with -loadvm, and refuses one made with another command line before QEMU starts', async () => {
    const m = new FakeMachine(h.dir, {});
    const l = lab();
    const ok = await bootOn(m, l, findVm(l, 'v')!, noInputs, { quiet: true, loadvm: 'sv1' });
    assert.ok(!(ok instanceof Error));
    const argv = readState(kitPaths('b', 'v').vm)!.argv!;
    assert.deepEqual(argv.slice(-2), ['-loadvm', 'sv1']);
    await m.signal(m.ref(null, { vm: { name: 'v' } }), m.pid, 'SIGKILL');
    // The same devices: accepted (the saved argv's own -loadvm does not count).
    const again = new FakeMachine(h.dir, {});
    assert.ok(!((await bootOn(again, l, findVm(l, 'v')!, noInputs, { quiet: true, loadvm: 'sv2', savedArgv: argv }).catch((e: Error) => e)) instanceof Error));
    await again.signal(again.ref(null, { vm: { name: 'v' } }), again.pid, 'SIGKILL');
    // Other memory: another machine, which QEMU could not load the state into.
    const other = new FakeMachine(h.dir, {});
    const l2 = lab({ memory: 512 });
    const refused = await bootOn(other, l2, findVm(l2, 'v')!, noInputs, { quiet: true, loadvm: 'sv3', savedArgv: argv }).catch(
      (e: Error & { hint?: string }) => e,
    );
    assert.ok(refused instanceof Error);
    assert.match(refused.message, /^v's saved state was made with another command line: argument \d+ was "256", now "512"/);
    assert.match(refused.hint ?? '', /--cold/);
    assert.ok(!other.calls.includes('start'), 'QEMU was started');
  });
});

describe('bootBudgetMs', () => {
  const pvm = { state: 'unusable' as const, reason: 'kvm_pvm', hint: '' };
  it('gives forced KVM that cannot work a short leash, a slow machine and cloud-init more', () => {
    assert.equal(bootBudgetMs('kvm', pvm, {}), 20_000);
    assert.equal(bootBudgetMs('tcg', pvm, {}), 180_000);
    assert.equal(bootBudgetMs('tcg', pvm, { slowMachine: true, slow: true }), 1_200_000);
    assert.equal(bootBudgetMs('kvm', pvm, { timeoutS: 7 }), 7000);
    // A guest that booted before: its first try is cut at ten times that, never past the whole budget nor past the user's limit.
    assert.equal(bootBudgetMs('tcg', pvm, { lastSshS: 3.5 }), 60_000);
    assert.equal(bootBudgetMs('tcg', pvm, { lastSshS: 30 }), 180_000);
    assert.equal(bootBudgetMs('tcg', pvm, { lastSshS: 3.5, timeoutS: 300 }), 300_000);
  });
});

describe('a hung boot’s vCPU line', () => {
  // QEMU 7.2's own output, trimmed: `info cpus`, `info registers` (cpu-index 0), `info lapic`.
  const regs =
    'RAX=0000000000000000 RBX=ffffffff9b01a940\nRIP=ffffffff9a217a0b RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\nES =0000 0000000000000000 00000000 00000000\n';
  const lapic =
    'dumping local APIC state for CPU 0\n\nLVT0\t 0x00010700 active-hi edge  masked                      ExtINT (vec 0)\nESR\t 0x00000000\nISR\t (none)\nIRR\t 236\n\nAPR 0x00 TPR 0x00 DFR 0x0f LDR 0x01PPR 0x00\n';

  it('says where the CPU is, that it is halted, and the interrupt pending in its local APIC', () => {
    assert.equal(vcpuLine('* CPU #0: thread_id=4242', regs, lapic), 'CPU #0: thread_id=4242 · RIP ffffffff9a217a0b · halted · IRR 236 · ISR (none)');
  });

  it('running, and what it could not read left out', () => {
    assert.equal(vcpuLine('  CPU #1: thread_id=4243', regs.replace('HLT=1', 'HLT=0'), ''), 'CPU #1: thread_id=4243 · RIP ffffffff9a217a0b · running');
    assert.equal(vcpuLine('  CPU #1: thread_id=4243', '', ''), 'CPU #1: thread_id=4243');
  });
});

describe('a failed cold boot worth one more', () => {
  const failed = (cause: unknown) =>
    new TaskError(
      'b/v failed to boot after 60.0 s: timed out after 59.9 s waiting for v: SSH banner\n  serial console (last 20 lines):\n    (empty)\n  (QEMU was stopped; pass --keep to leave it running)',
      { cause },
    );
  const hung = failed(new TimedOut('timed out after 59.9 s waiting for v: SSH banner'));
  it('a wait that ran out under the kit’s own budget: the failure’s first line, and its report without the --keep note', () => {
    assert.deepEqual(bootAgainFor(hung, {}), {
      reason: 'b/v failed to boot after 60.0 s: timed out after 59.9 s waiting for v: SSH banner',
      detail: '  serial console (last 20 lines):\n    (empty)',
    });
  });
  it('a kernel panic, in the guest’s own words', () => {
    assert.deepEqual(bootAgainFor(failed(new GuestPanicked('its kernel panicked during boot: Kernel panic - not syncing: x')), {}), {
      reason: 'its kernel panicked during boot: Kernel panic - not syncing: x',
    });
  });
  it('never a resume, a boot kept for debugging, one under the user’s --timeout, or one whose parent was lost; nor any other failure', () => {
    for (const opts of [{ loadvm: 'gc-suspend' }, { incoming: '/s/devices' }, { keepOnFailure: true }, { timeoutS: 30 }])
      assert.equal(bootAgainFor(hung, opts), undefined);
    assert.equal(bootAgainFor(new ParentLost('b/v failed to boot inside p', 'p', 'boot p again', new TimedOut('t')), {}), undefined);
    assert.equal(bootAgainFor(failed(new Error('QEMU exited during boot')), {}), undefined);
  });
  it('cuts a guest that booted before at ten times its last boot, a minute at least', () => {
    assert.deepEqual([hangCutMs(3.5), hangCutMs(6), hangCutMs(42.37)], [60_000, 60_000, 423_700]);
  });
});
