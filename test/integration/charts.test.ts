// Live charts against real guests: a CPU burner shows up and goes away, memory rises after
// the guest fills tmpfs, a guest whose sshd is frozen is charted as `?` with the reason
// while its neighbour still charts, every chart's --json parses, and the lab agent the first
// chart leaves behind keeps sessions open, answers on a 0600 socket and ends with `down`.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { kit, TASKS } from '../helpers/cli.ts';
import { waitFor } from '../helpers/spawn.ts';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';
import { qemusUnder, tinyLab, type TestLab } from '../helpers/vm.ts';

describe('live charts', () => {
  let lab: TestLab & { ports: Record<string, number> };
  const k = (...args: string[]) => kit(['--spec', lab.spec, ...args], { env: lab.env });
  const ok = (r: ReturnType<typeof kit>) => {
    assert.equal(r.status, 0, r.stderr);
    return r;
  };
  const stats = (vm: string) => JSON.parse(ok(k('chart-vm', vm, '--json')).stdout);
  before(async () => {
    lab = await tinyLab('charts', [{ name: 'c1' }, { name: 'c2' }]);
    ok(k('up', '--quiet'));
  });
  after(() => {
    k('down', '--force');
    lab.cleanup();
  });

  it('charts a VM from every source', () => {
    const s = stats('c1');
    for (const source of ['host', 'qmp', 'disk', 'guest', 'network']) assert.equal(s[source].ok, true, `${source}: ${s[source].reason}`);
    assert.equal(s.qmp.value.status, 'running');
    assert.equal(s.guest.value.memTotalMiB > 300 && s.guest.value.memTotalMiB <= 512, true);
    assert.equal(s.network.value.open, true);
    const text = ok(k('chart-vm', 'c1', '--width', '100')).stdout;
    assert.match(text, /^CPU\s+\S+\s+\d+%/m);
    assert.match(text, /^Network\s+●●●●●\s+connected/m);
  });

  it('shows a CPU burner above 50 % and below 20 % once it is killed', async () => {
    ok(k('exec', 'c1', '--', 'yes > /dev/null 2>&1 &'));
    // A chart's CPU window may reach back to the lab agent's last reading (at most 2.5 s).
    await new Promise((r) => setTimeout(r, 2600));
    const busy = stats('c1').guest.value.cpuBusyPercent;
    assert.ok(busy > 50, `busy ${busy}%`);
    ok(k('exec', 'c1', '--', 'killall yes'));
    let idle = 100;
    for (let i = 0; i < 5 && idle >= 20; i++) idle = stats('c1').guest.value.cpuBusyPercent;
    assert.ok(idle < 20, `still ${idle}% busy`);
  });

  it('shows memory used rise after the guest puts 100 MiB in tmpfs', () => {
    const before = stats('c1').guest.value;
    ok(k('exec', 'c1', '--', 'dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>/dev/null'));
    const after = stats('c1').guest.value;
    const rose = before.memAvailableMiB - after.memAvailableMiB;
    assert.ok(rose >= 80, `memory used rose by only ${rose} MiB`);
  });

  it('leaves a lab agent behind that answers the next charts over SSH sessions it keeps open', async () => {
    ok(k('chart-vm', '--json')); // the charts above left it running, or this one does
    const dir = join(lab.home, 'charts');
    const sock = join(dir, 'agent.sock');
    await waitFor('the agent socket', () => existsSync(sock), 20_000);
    const pid = Number(readFileSync(join(dir, 'agent.pid'), 'utf8'));
    assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /\0lab-agent\0charts\0--spec\0/);
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    const all = JSON.parse(ok(k('chart-vm', '--json')).stdout);
    assert.deepEqual(
      all.map((s: { name: string; guest: { ok: boolean } }) => [s.name, s.guest.ok]),
      [
        ['c1', true],
        ['c2', true],
      ],
    );
    // Between charts its sessions stay open: established connections from the agent to both forwards.
    const established = () =>
      spawnSync('ss', ['-tnpH', 'state', 'established'], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter((l) => l.includes(`pid=${pid},`));
    const to = (vm: string) => established().some((l) => new RegExp(`127\\.0\\.0\\.1:${lab.ports[vm]}\\s`).test(l));
    const agentLog = () => readFileSync(join(dir, 'agent.log'), 'utf8');
    for (const vm of ['c1', 'c2']) assert.ok(to(vm), `no session from the agent to ${vm}: ${established().join(' | ')}\nagent.log:\n${agentLog()}`);
    assert.equal(statSync(join(dir, 'agent.log')).mode & 0o777, 0o600);
    assert.match(agentLog(), /c1: session opened in \d+ ms/);
    // Its protocol: one JSON line each way; a request for another spec is refused.
    const one = await askSocket(sock, { op: 'stats', sampleMs: 100, spec: lab.spec, only: ['c1'] });
    assert.equal(one.ok, true, one.error);
    assert.deepEqual(
      one.stats?.map((s) => s.name),
      ['c1'],
    );
    assert.equal(one.stats?.[0]?.guest.ok, true);
    const other = await askSocket(sock, { op: 'stats', sampleMs: 100, spec: '/elsewhere/lab.json' });
    assert.equal(other.ok, false);
    assert.match(other.error ?? '', /serves .*charts\.json/);
  });

  it('charts a guest with a frozen sshd as ? with the reason, and its neighbour as usual', () => {
    // Freeze c2's listening dropbear (its parent is init), so new SSH connections hang.
    // Fresh sessions (--no-agent): the agent's open session to c2 would still answer.
    ok(k('exec', 'c2', '--', 'for p in $(pidof dropbear); do [ "$(cut -d" " -f4 /proc/$p/stat)" = 1 ] && kill -STOP $p; done; true'));
    const r = ok(k('chart-vm', '--width', '100', '--no-agent'));
    const [c1, c2] = r.stdout.split(/\n\n(?=c2 )/);
    assert.match(c1!, /^Memory\s+\S+\s+\d+%/m);
    assert.match(c2!, /^CPU\s+\?\s+SSH timed out/m);
    const all = JSON.parse(ok(k('chart-vm', '--json', '--no-agent')).stdout);
    const two = all.find((s: { name: string }) => s.name === 'c2');
    assert.equal(two.guest.ok, false);
    assert.match(two.guest.reason, /timed out/);
    assert.equal(two.qmp.ok, true, 'QMP does not need SSH');
    assert.equal(all.find((s: { name: string }) => s.name === 'c1').guest.ok, true);
  });

  it('prints the data behind tree, alloc and topology as JSON', () => {
    const tree = JSON.parse(ok(k('tree', '--json')).stdout);
    assert.deepEqual(
      tree.vms.map((v: { name: string; state: string }) => [v.name, v.state]),
      [
        ['c1', 'running'],
        ['c2', 'running'],
      ],
    );
    const alloc = JSON.parse(ok(k('alloc', '--json')).stdout);
    assert.deepEqual(
      alloc.memory.map((m: { name: string; memoryMiB: number }) => [m.name, m.memoryMiB]),
      [
        ['c1', 512],
        ['c2', 512],
      ],
    );
    const topo = JSON.parse(ok(k('topology', '--json')).stdout);
    assert.deepEqual(topo.host.listens, [`127.0.0.1:${lab.ports.c1} → c1:22`, `127.0.0.1:${lab.ports.c2} → c2:22`]);
  });

  it('streams samples as JSON Lines, and ends quietly when the reader closes the pipe', () => {
    const lines = ok(k('watch', '--json', '--count', '2', '--interval', '1'))
      .stdout.trim()
      .split('\n');
    assert.equal(lines.length, 2);
    for (const l of lines)
      assert.deepEqual(
        JSON.parse(l).vms.map((v: { name: string }) => v.name),
        ['c1', 'c2'],
      );
    const r = spawnSync('sh', ['-c', `"${process.execPath}" --import tsx "${TASKS}" --spec "${lab.spec}" watch --json --count 3 --interval 1 | head -1`], {
      env: { ...process.env, ...lab.env },
      encoding: 'utf8',
      cwd: PROJECT_ROOT,
    });
    assert.equal(r.status, 0);
    assert.equal(JSON.parse(r.stdout).lab, 'charts');
    assert.doesNotMatch(r.stderr, /Error|at /);
  });

  it('never trips dropbear 2022.83 on concurrent channels of one connection', () => {
    // The charts above ran commands on shared sessions; unqueued, dropbear ended them on this.
    for (const vm of ['c1', 'c2']) assert.doesNotMatch(readFileSync(join(lab.home, 'charts', vm, 'serial.log'), 'utf8'), /Failed assertion/, vm);
  });

  it('leaves no QEMU and no lab agent behind after down', () => {
    const pidFile = join(lab.home, 'charts', 'agent.pid');
    const agent = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : undefined;
    assert.ok(agent, 'the agent of the test above is gone already');
    ok(k('down', '--force'));
    assert.deepEqual(qemusUnder(lab.home), []);
    const state = existsSync(`/proc/${agent}/stat`) ? readFileSync(`/proc/${agent}/stat`, 'utf8').split(') ')[1]?.[0] : 'gone';
    assert.ok(state === 'gone' || state === 'Z', `the lab agent still runs (state ${state})`);
    assert.equal(existsSync(join(lab.home, 'charts', 'agent.sock')), false);
  });
});

/** One request to a lab agent's socket, its one-line JSON reply. */
function askSocket(sock: string, req: object): Promise<{ ok: boolean; error?: string; stats?: Array<{ name: string; guest: { ok: boolean } }> }> {
  return new Promise((resolve, reject) => {
    const c = connect(sock, () => c.write(`${JSON.stringify(req)}\n`));
    let buf = '';
    c.on('data', (d) => (buf += d));
    c.on('end', () => resolve(JSON.parse(buf)));
    c.on('error', reject);
  });
}
