// The lab agent (one background process per running lab, started by `up`): its socket is
// 0600; `exec` through it gives the same bytes, stderr and exit code as without it, in the
// parent and in the nested child, `cp` the same files and errors, `run-in` the same script
// run, tree and topology the same live states, watch its samples; two commands at once both run; an edited spec (a .ts one,
// which Node would otherwise keep in its module cache) is read anew; killed -9, the CLI
// works without it; `down` ends it.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync, existsSync, mkdtempSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TASKS } from '../helpers/cli.ts';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';
import { specLab, tinyNestVm } from '../helpers/spec-lab.ts';
import { poll } from '../../tasks/util/retry.ts';

describe('the lab agent', () => {
  const lab = specLab('gc-agent-', async () => ({ name: 'agenttest', vms: [await tinyNestVm('g1', 'g2')] }), {}, { ts: true });
  const { k, ok } = lab;
  const folder = () => join(lab.home, 'agenttest');
  const agentPid = () => Number(readFileSync(join(folder(), 'agent.pid'), 'utf8').trim());
  const served = () =>
    existsSync(join(folder(), 'agent.log')) ? (readFileSync(join(folder(), 'agent.log'), 'utf8').match(/ exec in \S+ ran: /g)?.length ?? 0) : 0;
  /** The CLI with its output as bytes; `agent: false` runs it without the agent. */
  const run = (args: string[], agent = true) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', TASKS, '--spec', lab.spec, ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...lab.env, ...(agent ? {} : { GRAINCHART_AGENT: '0' }) },
      timeout: 120_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
  };
  before(async () => {
    ok(k('up'));
    assert.ok(
      await poll(async () => existsSync(join(folder(), 'agent.sock')), { what: 'the lab agent’s socket', timeoutMs: 30_000, intervalMs: 100 }),
      'no lab agent after up',
    );
  });

  it('runs after up, one per lab, on a socket only its user can open', () => {
    assert.ok(agentPid() > 1);
    assert.match(readFileSync(`/proc/${agentPid()}/cmdline`, 'utf8'), /\0lab-agent\0agenttest\0--spec\0/);
    assert.equal(statSync(join(folder(), 'agent.sock')).mode & 0o777, 0o600);
  });

  it('gives exec the same bytes, stderr and exit code as a session of its own, in the parent and the nested child', () => {
    const command = "printf 'a\\001\\377\\000b\\n'; echo to-stderr >&2; exit 3";
    for (const vm of ['g1', 'g2']) {
      const before = served();
      const via = run(['exec', vm, '--', command]);
      assert.equal(served(), before + 1, `the agent did not run the command in ${vm}`);
      const direct = run(['exec', vm, '--', command], false);
      assert.equal(served(), before + 1, 'GRAINCHART_AGENT=0 still went through the agent');
      assert.equal(via.status, 3);
      assert.deepEqual([via.status, via.stdout, via.stderr], [direct.status, direct.stdout, direct.stderr]);
      assert.deepEqual(via.stdout, Buffer.from([0x61, 0x01, 0xff, 0x00, 0x62, 0x0a]));
      assert.equal(via.stderr, 'to-stderr\n');
      const json = (agent: boolean) => JSON.parse(run(['exec', vm, '--json', '--', 'echo out; echo err >&2; exit 4'], agent).stdout.toString('utf8'));
      assert.deepEqual(json(true), json(false));
    }
  });

  it('copies with cp the same bytes either way, into and out of the nested child, and fails the same on a missing file', () => {
    const copies = () => (readFileSync(join(folder(), 'agent.log'), 'utf8').match(/ cp (into|out of) g2 ran: /g) ?? []).length;
    const local = join(lab.home, 'in.bin');
    const bytes = randomBytes(300 * 1024 + 7);
    writeFileSync(local, bytes);
    const before = copies();
    const into = (agent: boolean, name: string) => JSON.parse(run(['cp', '--json', local, `g2:/root/${name}`], agent).stdout.toString('utf8'));
    assert.deepEqual(into(true, 'copied.bin'), { from: local, to: 'g2:/root/copied.bin', bytes: bytes.length });
    assert.equal(copies(), before + 1, 'the agent did not copy into g2');
    into(false, 'direct.bin');
    assert.equal(copies(), before + 1, 'GRAINCHART_AGENT=0 still went through the agent');
    const sums = run(['exec', 'g2', '--', 'sha256sum /root/copied.bin /root/direct.bin | cut -d" " -f1']).stdout.toString().trim().split('\n');
    const sum = createHash('sha256').update(bytes).digest('hex');
    assert.deepEqual(sums, [sum, sum]);
    // Out of it, into a folder: under the remote file's name, as cp and scp do.
    for (const agent of [true, false]) {
      const dir = mkdtempSync(join(lab.home, 'out-'));
      const r = run(['cp', 'g2:/root/copied.bin', dir], agent);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(readFileSync(join(dir, 'copied.bin')).equals(bytes), `the copy out of g2 ${agent ? 'through' : 'without'} the agent differs`);
    }
    assert.equal(copies(), before + 2, 'the agent did not copy out of g2');
    const missing = (agent: boolean) => run(['cp', 'g2:/root/no-such-file', join(lab.home, 'never')], agent);
    const [via, direct] = [missing(true), missing(false)];
    assert.equal(via.status, 1, via.stderr);
    assert.deepEqual([via.status, via.stderr], [direct.status, direct.stderr]);
    assert.match(via.stderr, /No such file/);
  });

  it('runs a script with run-in the same either way: each step through the agent, output and exit code equal', () => {
    const script = join(lab.home, 'check.sh');
    writeFileSync(script, '#!/bin/sh\necho "args: $*"; echo "on $(hostname)" >&2; exit 5\n');
    const steps = () => (readFileSync(join(folder(), 'agent.log'), 'utf8').match(/ (exec in|cp into) g2 ran: /g) ?? []).length;
    const before = steps();
    const via = run(['run-in', 'g2', '--', script, 'one', 'two words']);
    // mktemp, the copy, the script, rm: four steps.
    assert.equal(steps(), before + 4, 'run-in did not go through the agent');
    const direct = run(['run-in', 'g2', '--', script, 'one', 'two words'], false);
    assert.equal(steps(), before + 4);
    assert.equal(via.status, 5, via.stderr);
    assert.deepEqual([via.status, via.stdout.toString(), via.stderr], [direct.status, direct.stdout.toString(), direct.stderr]);
    assert.equal(via.stdout.toString(), 'args: one two words\n');
    assert.equal(run(['exec', 'g2', '--', 'ls /tmp | grep -c gc-run- || true']).stdout.toString().trim(), '0', 'run-in left its copy behind');
  });

  it('answers tree and topology from its live rows, as they read them themselves', () => {
    const answered = () => (readFileSync(join(folder(), 'agent.log'), 'utf8').match(/ status answered in /g) ?? []).length;
    const before = answered();
    const states = (agent: boolean) =>
      (JSON.parse(run(['tree', '--json'], agent).stdout.toString('utf8')).vms as Array<{ name: string; state: string; accel?: string }>).map((v) => [
        v.name,
        v.state,
        v.accel,
      ]);
    const via = states(true);
    assert.equal(answered(), before + 1, 'tree did not ask the agent');
    assert.deepEqual(via, states(false));
    assert.deepEqual(
      via.map(([name, state]) => [name, state]),
      [
        ['g1', 'running'],
        ['g2', 'running'],
      ],
    );
    const topology = (agent: boolean) => run(['topology', '--ascii'], agent).stdout.toString();
    const drawn = topology(true);
    assert.equal(answered(), before + 2, 'topology did not ask the agent');
    assert.equal(drawn, topology(false));
  });

  it('decides what chart-vm charts and answers it: a VM’s card, the lab’s cards, as without it', () => {
    const answered = () => (readFileSync(join(folder(), 'agent.log'), 'utf8').match(/ stats answered in /g) ?? []).length;
    const before = answered();
    const vm = (agent: boolean) => JSON.parse(run(['chart-vm', 'g2', '--json'], agent).stdout.toString('utf8')) as { name: string; depth: number };
    const lab = (agent: boolean) => (JSON.parse(run(['chart-vm', '--json'], agent).stdout.toString('utf8')) as Array<{ name: string }>).map((s) => s.name);
    const viaVm = vm(true);
    assert.equal(answered(), before + 1, 'the agent did not chart g2');
    assert.deepEqual([viaVm.name, viaVm.depth], [vm(false).name, 2]);
    assert.deepEqual(lab(true), ['g1', 'g2']);
    assert.equal(answered(), before + 2, 'the agent did not chart the lab');
    assert.deepEqual(lab(false), ['g1', 'g2']);
    const none = run(['chart-vm', 'nosuchvm']);
    assert.equal(none.status, 2, none.stderr);
    assert.equal(none.stderr, run(['chart-vm', 'nosuchvm'], false).stderr);
  });

  it('answers each sample of watch, whose lines read both layers', () => {
    const answered = () => (readFileSync(join(folder(), 'agent.log'), 'utf8').match(/ stats answered in /g) ?? []).length;
    const before = answered();
    const lines = run(['watch', '--json', '--count', '2', '--interval', '1']).stdout.toString().trim().split('\n');
    assert.equal(answered(), before + 2, 'watch did not ask the agent for each sample');
    assert.equal(lines.length, 2);
    for (const line of lines) {
      const vms = (JSON.parse(line).vms as Array<{ name: string; state: string; guest: { ok: boolean } }>).map((v) => [v.name, v.state, v.guest.ok]);
      assert.deepEqual(vms, [
        ['g1', 'running', true],
        ['g2', 'running', true],
      ]);
    }
  });

  it('answers status with the rows a status of its own reads', () => {
    const answered = () => (readFileSync(join(folder(), 'agent.log'), 'utf8').match(/ status answered in /g) ?? []).length;
    const before = answered();
    const rows = (agent: boolean) =>
      (JSON.parse(run(['status', '--json'], agent).stdout.toString('utf8')) as Array<{ name: string; state: string; uptimeS?: number }>).map(
        ({ uptimeS, ...r }) => ({
          ...r,
          up: uptimeS !== undefined,
        }),
      );
    const via = rows(true);
    assert.equal(answered(), before + 1, 'the agent did not answer the status');
    assert.deepEqual(via, rows(false));
    assert.deepEqual(
      via.map((r) => [r.name, r.state]),
      [
        ['g1', 'running'],
        ['g2', 'running'],
      ],
    );
  });

  it('runs two commands at once, neither waiting for the other to be refused', async () => {
    const start = (cmd: string) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const c = spawn(process.execPath, ['--import', 'tsx', TASKS, '--spec', lab.spec, 'exec', 'g2', '--', cmd], {
          cwd: PROJECT_ROOT,
          env: { ...process.env, ...lab.env },
        });
        let out = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString()));
        c.on('exit', (code) => resolve({ code, out }));
      });
    const [slow, quick] = await Promise.all([start('sleep 4; echo slow'), start('echo quick')]);
    assert.deepEqual(slow, { code: 0, out: 'slow\n' });
    assert.deepEqual(quick, { code: 0, out: 'quick\n' });
  });

  it('killed -9, leaves the CLI working without it; up starts another', async () => {
    process.kill(agentPid(), 'SIGKILL');
    assert.ok(existsSync(join(folder(), 'agent.sock')), 'the test needs the stale socket left behind');
    const r = run(['exec', 'g2', '--', 'echo', 'still']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'still\n');
    ok(k('up'));
    assert.ok(
      await poll(async () => existsSync(`/proc/${agentPid()}`), { what: 'a new lab agent', timeoutMs: 30_000, intervalMs: 100 }),
      'no new agent after up',
    );
  });

  it('never serves an edited spec’s old form: a VM renamed away is refused as without it, and the agent ends', async () => {
    const text = readFileSync(lab.spec, 'utf8');
    // The agent that read the spec before the edit: the one that must end.  (Its pidfile is not
    // the test: once it has ended, the next kit call may start a new agent, on the new text.)
    const served = agentPid();
    try {
      writeFileSync(lab.spec, text.replace('"g2"', '"g2-renamed"'));
      const via = run(['exec', 'g2', '--', 'true']);
      const direct = run(['exec', 'g2', '--', 'true'], false);
      assert.equal(via.status, 2, via.stderr);
      assert.equal(via.stderr, direct.stderr);
      assert.match(via.stderr, /no VM named "g2"/);
      // Its modules hold the TypeScript spec as it was: it cannot read the edit, so it ends.
      assert.ok(
        await poll(async () => !existsSync(`/proc/${served}`), { what: 'the agent to end', timeoutMs: 10_000, intervalMs: 100 }),
        `the agent (pid ${served}) did not end`,
      );
    } finally {
      writeFileSync(lab.spec, text);
    }
    assert.equal(run(['exec', 'g2', '--', 'echo', 'back']).stdout.toString(), 'back\n');
  });

  it('comes back with up, and ends with down', async () => {
    ok(k('up'));
    assert.ok(
      await poll(async () => existsSync(`/proc/${agentPid()}`), { what: 'a new lab agent', timeoutMs: 30_000, intervalMs: 100 }),
      'no new agent after up',
    );
    const pid = agentPid();
    ok(k('down'));
    const state = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] : 'gone';
    assert.ok(state === 'gone' || state === 'Z', `the lab agent still runs (state ${state})`);
  });
});
