// commands: what a command into a running lab costs as a user types it, with the demo lab
// up — `exec l2 -- true` through the lab agent (its sessions open), the same without it
// (GRAINCHART_AGENT=0: its own two SSH handshakes, L1 then L2 through it), and OpenSSH
// through the lab's ssh-config (ProxyJump, pinned keys) — against `npx tsx` of an empty
// file, the floor every CLI call pays; `status demo` and a 1 MiB `cp` into l2 with and
// without the agent.  All
// alternating in one run, after one warm-up each.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { MiB } from '../tasks/spec/size.ts';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../tasks/util/paths.ts';
import { downLab } from '../tasks/lab/down.ts';
import { upLab } from '../tasks/lab/up.ts';
import { loadLab } from '../tasks/spec/load.ts';
import { keepAgent } from '../tasks/agent/client.ts';
import { timeIt, type Row } from './stats.ts';
import { emptyTsFile, npxTsx } from './startup.ts';
import { waitForAgent } from './chart.ts';

export async function benchCommands(runs = 7): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-cmd-'));
  process.env.GRAINCHART_HOME = home;
  const env = { ...process.env, GRAINCHART_HOME: home };
  const empty = emptyTsFile(home);
  const demo = await loadLab('demo');
  const file = join(home, 'bench.bin');
  writeFileSync(file, randomBytes(MiB));
  const steps = {
    floor: npxTsx([empty], env),
    agent: npxTsx(['tasks.ts', 'exec', 'l2', '--', 'true'], env),
    direct: npxTsx(['tasks.ts', 'exec', 'l2', '--', 'true'], { ...env, GRAINCHART_AGENT: '0' }),
    status: npxTsx(['tasks.ts', 'status', 'demo'], env),
    statusDirect: npxTsx(['tasks.ts', 'status', 'demo'], { ...env, GRAINCHART_AGENT: '0' }),
    cp: npxTsx(['tasks.ts', 'cp', file, 'l2:/root/bench.bin'], env),
    cpDirect: npxTsx(['tasks.ts', 'cp', file, 'l2:/root/bench.bin'], { ...env, GRAINCHART_AGENT: '0' }),
    openssh: async () => {
      execFileSync('ssh', ['-F', join(home, 'ssh_config'), 'l2', 'true'], { stdio: 'ignore' });
    },
    scp: async () => {
      execFileSync('scp', ['-q', '-F', join(home, 'ssh_config'), file, 'l2:/root/bench.bin'], { stdio: 'ignore' });
    },
  };
  const samples: Record<keyof typeof steps, number[]> = {
    floor: [],
    agent: [],
    direct: [],
    status: [],
    statusDirect: [],
    cp: [],
    cpDirect: [],
    openssh: [],
    scp: [],
  };
  try {
    await upLab(demo, { quiet: true });
    keepAgent('demo', undefined); // as `up` on the command line leaves it
    await waitForAgent('demo');
    writeFileSync(join(home, 'ssh_config'), execFileSync('npx', ['tsx', 'tasks.ts', 'ssh-config', 'demo'], { cwd: PROJECT_ROOT, env, encoding: 'utf8' }));
    for (const step of Object.values(steps)) await step(); // the agent opens its sessions; tsx warms its cache
    for (let i = 0; i < runs; i++) for (const [name, step] of Object.entries(steps)) samples[name as keyof typeof steps].push(await timeIt(step));
  } finally {
    await downLab(demo, { force: true });
    rmSync(home, { recursive: true, force: true });
  }
  const floor = 'npx tsx empty.ts (commands bench)';
  return [
    { name: floor, samples: samples.floor },
    { name: 'npx tsx tasks.ts exec l2 -- true, through the lab agent', samples: samples.agent, baseline: floor, goal: '≤ 1.15×' },
    { name: 'npx tsx tasks.ts exec l2 -- true, GRAINCHART_AGENT=0', samples: samples.direct, baseline: floor },
    { name: 'npx tsx tasks.ts cp 1MiB.bin l2:/root/, through the lab agent', samples: samples.cp, baseline: floor },
    { name: 'npx tsx tasks.ts cp 1MiB.bin l2:/root/, GRAINCHART_AGENT=0', samples: samples.cpDirect, baseline: floor },
    { name: 'ssh -F <(ssh-config demo) l2 true (OpenSSH, ProxyJump)', samples: samples.openssh, baseline: floor },
    { name: 'scp -F <(ssh-config demo) 1MiB.bin l2:/root/ (OpenSSH, ProxyJump)', samples: samples.scp, baseline: floor },
    { name: 'npx tsx tasks.ts status demo, through the lab agent', samples: samples.status, baseline: floor, goal: '≤ 1.15×' },
    { name: 'npx tsx tasks.ts status demo, GRAINCHART_AGENT=0', samples: samples.statusDirect, baseline: floor },
  ];
}
