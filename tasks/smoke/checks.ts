// tasks/smoke/: CI smoke tests against a real lab — the checks, and their JUnit and TAP
// reports.
//
// One check, run for real: a built-in (ssh, kvm, disk, child-reachable) or a command with
// what its exit code and output must be, tried once or again until `within` seconds pass.
import { poll, retry, withTimeout } from '../util/retry.ts';
import { spawn } from 'node:child_process';
import type { CheckSpec, CommandCheckSpec } from '../spec/schema.ts';
import type { VmResolved } from '../spec/tree.ts';
import type { ExecResult, Guest } from '../ssh/guest.ts';
import { guestMachine } from '../machine/guest.ts';

export interface CheckResult {
  /** "host" for host.checks, else the VM's name. */
  suite: string;
  layer: number;
  check: string;
  ok: boolean;
  seconds: number;
  message?: string;
  stdout?: string;
  stderr?: string;
}

export const checkName = (c: CheckSpec) => (typeof c === 'string' ? c : c.name);

const ONE_TRY_MS = 60_000;

type Verdict = { ok: boolean; message?: string; stdout?: string; stderr?: string };

/** Judges one run of a command check. */
export function judge(check: CommandCheckSpec, r: ExecResult): Verdict {
  const out = { stdout: r.stdout, stderr: r.stderr };
  if (r.code !== check.expect.exitCode)
    return {
      ok: false,
      message: `exit code ${r.code}, expected ${check.expect.exitCode}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n').at(-1)}` : ''}`,
      ...out,
    };
  if (check.expect.stdout !== undefined && !new RegExp(check.expect.stdout, 'm').test(r.stdout))
    return { ok: false, message: `stdout does not match /${check.expect.stdout}/: ${JSON.stringify(r.stdout.slice(0, 200))}`, ...out };
  return { ok: true, ...out };
}

/** Runs a command check with `exec`, once, or until it passes within `expect.within` seconds. */
async function commandCheck(check: CommandCheckSpec, exec: (cmd: string) => Promise<ExecResult>): Promise<Verdict> {
  const within = check.expect.within;
  const deadline = Date.now() + (within ?? 0) * 1000;
  const once = async (): Promise<Verdict> => {
    const left = within ? Math.max(1000, deadline - Date.now()) : ONE_TRY_MS;
    return withTimeout(exec(check.run), left, check.name).then(
      (r) => judge(check, r),
      (err: Error) => ({ ok: false, message: err.message }),
    );
  };
  if (!within) return once();
  // A failing check is a verdict, not an error: the last one is kept and said when time runs out.
  let last: Verdict = { ok: false, message: 'not run' };
  const passed = await poll(
    async () => {
      last = await once();
      return last.ok;
    },
    { what: check.name, timeoutMs: within * 1000, intervalMs: 1000 },
  );
  return passed ? last : { ...last, message: `${last.message} (still failing after ${within} s)` };
}

async function builtin(name: 'ssh' | 'kvm' | 'disk' | 'child-reachable', vm: VmResolved, g: Guest): Promise<Verdict> {
  switch (name) {
    case 'ssh': {
      const r = await g.exec('uname -a');
      return r.code === 0 ? { ok: true, stdout: r.stdout } : { ok: false, message: `uname -a exited ${r.code}`, stdout: r.stdout, stderr: r.stderr };
    }
    case 'disk': {
      // The root filesystem is mounted read-write and takes a write.
      const r = await g.exec(`awk '$2=="/" {print $1, $3, $4; exit}' /proc/mounts; f=/.gc-smoke-$$; echo ok > $f && rm $f && echo writable`);
      const [mount = ''] = r.stdout.split('\n');
      const rw = /\brw\b/.test(mount.split(' ')[2] ?? '');
      if (!rw) return { ok: false, message: `/ is not mounted read-write: ${mount || 'not in /proc/mounts'}`, stdout: r.stdout, stderr: r.stderr };
      if (!r.stdout.includes('writable')) return { ok: false, message: 'writing a file on / failed', stdout: r.stdout, stderr: r.stderr };
      return { ok: true, stdout: r.stdout };
    }
    case 'kvm': {
      // The same probe `nest` uses: modules loaded, /dev/kvm usable inside.
      const p = await guestMachine(g, vm.name).probe();
      return p.kvm.state === 'usable'
        ? { ok: true, stdout: `KVM usable (${p.kvmFacts.modules.join(' ')})` }
        : { ok: false, message: `KVM is ${p.kvm.state} inside ${vm.name}: ${p.kvm.reason}` };
    }
    case 'child-reachable': {
      // Each child's sshd answers a connection made from inside this VM (its forward there),
      // within the time a VM's own suite gives its connection (REACH_MS).  A child that answers
      // only on a later try passes, and its line says so: right after the golden snapshot a
      // nested child was seen not to answer for over 10 s (CI, 1 run in 5 here).
      const missing: string[] = [];
      const seen: string[] = [];
      for (const child of vm.children) {
        const port = child.network.sshPort;
        const banner = port === undefined ? 'no sshPort' : await childBanner(g, port, `${child.name}'s sshd on port ${port} inside ${vm.name}`);
        (banner.startsWith('SSH-') ? seen : missing).push(`${child.name} (${port}): ${banner}`);
      }
      return missing.length
        ? { ok: false, message: `not answering inside ${vm.name}: ${missing.join('; ')}`, stdout: seen.join('\n') }
        : { ok: true, stdout: seen.join('\n') };
    }
  }
}

/** The time a VM's suite gives its own connection, and a child's banner from inside its parent. */
export const REACH_MS = 30_000;

/** The banner of the sshd behind `port` inside `g`, each try given 10 s, within REACH_MS; a later try's is marked with when it came. */
export async function childBanner(g: Guest, port: number, what: string): Promise<string> {
  const t0 = Date.now();
  let tries = 0;
  return retry(
    async () => {
      tries++;
      const banner = await withTimeout(readBanner(g, port), 10_000, `port ${port}`);
      if (!banner.startsWith('SSH-')) throw new Error(banner);
      return banner;
    },
    { what, timeoutMs: REACH_MS, intervalMs: 1000 },
  ).then(
    (banner) => (tries > 1 ? `${banner} (on try ${tries}, after ${((Date.now() - t0) / 1000).toFixed(1)} s)` : banner),
    (err: Error) => err.message,
  );
}

async function readBanner(g: Guest, port: number): Promise<string> {
  const ch = await g.forwardOut(port);
  return new Promise((resolve, reject) => {
    let data = '';
    ch.on('data', (c: Buffer) => {
      data += c.toString('latin1');
      const nl = data.indexOf('\n');
      if (nl >= 0) {
        ch.destroy();
        resolve(data.slice(0, nl).trim());
      }
    });
    ch.on('error', reject);
    ch.on('close', () => resolve(data.trim() || 'closed without a banner'));
  });
}

async function timedVerdict(f: () => Promise<Verdict>): Promise<Verdict & { seconds: number }> {
  const t0 = performance.now();
  const v = await f().catch((err: Error) => ({ ok: false, message: err.message }));
  return { ...v, seconds: Math.round(performance.now() - t0) / 1000 };
}

export async function runVmCheck(check: CheckSpec, vm: VmResolved, layer: number, g: Guest): Promise<CheckResult> {
  const v = await timedVerdict(() => (typeof check === 'string' ? builtin(check, vm, g) : commandCheck(check, (cmd) => g.exec(cmd))));
  return { suite: vm.name, layer, check: checkName(check), ...v };
}

export async function runHostCheck(check: CommandCheckSpec): Promise<CheckResult> {
  const v = await timedVerdict(() => commandCheck(check, hostExec));
  return { suite: 'host', layer: 0, check: check.name, ...v };
}

function hostExec(cmd: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const p = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code: code ?? -1, signal: signal ?? undefined, stdout, stderr }));
  });
}

/** A suite that could not start (its VM unreachable): every check fails with that reason. */
export function failedSuite(suite: string, layer: number, checks: CheckSpec[], message: string): CheckResult[] {
  return checks.map((c) => ({ suite, layer, check: checkName(c), ok: false, seconds: 0, message }));
}
