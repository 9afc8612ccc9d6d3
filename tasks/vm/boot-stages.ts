// A boot's readiness as data (lima's requirements, the NixOS driver's retry): ordered stages,
// each with a time limit and a hint, run as progress — QEMU alive, QMP "running", the SSH
// forward open, sshd's banner, `uname -a` over SSH, and cloud-init done for a cloud image.
import type { QmpStatus } from '../qemu/qmp.ts';
import type { KvmVerdict } from '../qemu/host-probe.ts';
import { FatalError } from '../util/errors.ts';
import { withQmp } from '../machine/machine.ts';
import type { Stage } from './readiness.ts';
import { DEAD_QMP } from './status.ts';
import { type BootRun, connectGuest, dialSsh } from './boot-run.ts';

/** `ssh: false`: QEMU alive and running is all (the caller asks the guest some other way). */
export function bootStages(run: BootRun, o: { ssh?: boolean } = {}): Stage[] {
  const { machine, ref, sshForward } = run;
  const at = machine.at;
  const vm = run.place.vm;
  return [
    {
      description: `QEMU process is alive${at}`,
      hint: `QEMU exited: see qemu.stderr in the VM folder${at}`,
      maxMs: 5000,
      check: async () => {
        const s = await machine.sample(ref, run.pid ? { pid: run.pid } : {});
        run.pid ||= s.pid ?? 0;
        return s.alive || undefined;
      },
    },
    {
      description: 'QMP answers "running"',
      hint: `QEMU is up but its monitor does not answer${ref.qmpPort ? ` (127.0.0.1:${ref.qmpPort}${at})` : ''}; see qemu.stderr`,
      maxMs: 15_000,
      record: 'qmpS',
      check: async () => {
        const s = await withQmp(machine, ref, 1000, (q) => q.execute<QmpStatus>('query-status', undefined, 1000));
        failIfDead(run, s.status);
        return s.status === 'running' || undefined;
      },
    },
    ...(sshForward && o.ssh !== false
      ? [
          {
            description: `port ${sshForward.bind}:${sshForward.host} accepts${at}`,
            hint: 'QEMU’s user network did not open the forward',
            maxMs: 10_000,
            record: 'portS' as const,
            check: async () => (await dialSsh(run)).destroy() && true,
          },
          {
            description: 'SSH banner',
            get hint() {
              return run.kvmHint ?? 'the guest did not start sshd: see the serial log below';
            },
            maxMs: 300_000,
            record: 'bannerS' as const,
            check: () => run.banners!.poll(),
          },
          {
            description: '`uname -a` over SSH',
            hint: 'sshd answers but refuses the lab key or the command: see the serial log',
            maxMs: 60_000,
            record: 'sshS' as const,
            check: async () => {
              const g = await connectGuest(run, run.banners!.take(), machine.slow ? 8000 : 5000);
              try {
                // Each try within a time of its own, so a command that never returns is a failed try.
                run.uname = (await g.succeed('uname -a', machine.slow ? 15_000 : 10_000)).trim();
              } catch (err) {
                g.close();
                throw err;
              }
              run.guest = g;
              return run.uname;
            },
          },
          // A cloud image is ready when cloud-init has done its work (users, keys, packages).
          {
            description: 'cloud-init finished',
            enabled: () => run.boot?.slow === true,
            hint: `cloud-init has not finished: see the serial log, or run \`cloud-init status --long\` in the guest (exec ${vm.name} -- cloud-init status --long)`,
            maxMs: 600_000,
            // On the session that ran uname: a handshake with a Debian under TCG costs ~0.7 s.
            check: async () => {
              const g = run.guest ?? (run.guest = await connectGuest(run));
              try {
                return (await g.exec('test -f /var/lib/cloud/instance/boot-finished', { timeoutMs: 20_000 })).code === 0 || undefined;
              } catch (err) {
                g.close(); // a broken session: the next try makes a new one
                run.guest = undefined;
                throw err;
              }
            },
          },
        ]
      : []),
  ];
}

/** A status that means the guest is dead will not change by waiting. */
export function failIfDead(run: BootRun, status: string): void {
  if (DEAD_QMP.has(status))
    throw new FatalError(
      `the guest stopped: QMP status ${status}`,
      status === 'internal-error'
        ? (run.kvmHint ?? 'KVM could not run the guest; try accel: tcg')
        : status === 'io-error'
          ? `QEMU could not write the VM's disk: is the filesystem that holds ${run.ref.paths.dir}${run.machine.at} full? (df there; boot --fresh starts from a new overlay)`
          : 'see the serial log below',
    );
}

/**
 * The whole boot's time limit: a working TCG boot of the tiny guest takes ~5 s here; KVM that
 * cannot work gets a short leash; a --timeout the user gave is the limit.  `lastSshS`: the
 * guest's last cold boot took that long under the same accelerator, so a first try that takes
 * ten times as long (a minute at least) has hung, is cut there, and booted once more
 * (boot-failure.ts bootAgainFor).
 */
export function bootBudgetMs(
  accel: 'kvm' | 'tcg',
  kvm: KvmVerdict,
  o: { timeoutS?: number; slow?: boolean; slowMachine?: boolean; lastSshS?: number },
): number {
  if (o.timeoutS !== undefined) return o.timeoutS * 1000;
  if (accel === 'kvm' && kvm.state !== 'usable') return 20_000;
  const base = o.slowMachine ? 300_000 : accel === 'tcg' ? 180_000 : 90_000;
  const whole = o.slow ? base * 4 : base;
  return o.lastSshS ? Math.min(whole, hangCutMs(o.lastSshS)) : whole;
}

export const hangCutMs = (lastSshS: number) => Math.max(60_000, Math.round(lastSshS * 10_000));
