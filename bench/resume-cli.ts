// resume-cli: `suspend demo` and `resume demo` as a user types them (CLI wall, the process start
// included), against `npx tsx` of an empty file — the floor every CLI call pays — in the same
// run: resume asking each layer through the port shells (the default), and over SSH
// (GRAINCHART_PORT_SHELL=0); each resume returns once every layer ran `uname -a` and had its
// clock set.  The demo lab comes up once; the runs alternate, each after the lab agent has
// opened its sessions.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downLab } from '../tasks/lab/down.ts';
import { upLab } from '../tasks/lab/up.ts';
import { loadLab } from '../tasks/spec/load.ts';
import { median, timeIt, type Row } from './stats.ts';
import { emptyTsFile, npxTsx } from './startup.ts';
import { askStatus } from '../tasks/agent/client.ts';

export async function benchResumeCli(runs = 7): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-rcli-'));
  process.env.GRAINCHART_HOME = home;
  const env = { ...process.env, GRAINCHART_HOME: home };
  const demo = await loadLab('demo');
  const floor = npxTsx([emptyTsFile(home)], env);
  const suspend = npxTsx(['tasks.ts', 'suspend', 'demo'], env);
  const resume = npxTsx(['tasks.ts', 'resume', 'demo'], env);
  const resumeSsh = npxTsx(['tasks.ts', 'resume', 'demo'], { ...env, GRAINCHART_PORT_SHELL: '0' });
  // After a resume the lab agent opens its SSH sessions (a handshake per layer, CPU in the
  // guests and here): the next timing waits until it has, as a user's next command would find it.
  const settled = async () => {
    for (let i = 0; i < 40 && !(await askStatus('demo', undefined, 15_000)); i++) await new Promise((r) => setTimeout(r, 250));
  };
  const samples = { floor: [] as number[], suspend: [] as number[], port: [] as number[], ssh: [] as number[] };
  try {
    await upLab(demo, { quiet: true });
    await floor(); // tsx warms its cache
    for (let i = 0; i < runs; i++) {
      samples.floor.push(await timeIt(floor));
      samples.suspend.push(await timeIt(suspend));
      samples.port.push(await timeIt(resume));
      await settled();
      await suspend();
      samples.ssh.push(await timeIt(resumeSsh));
      await settled();
      console.error(
        `resume-cli run ${i + 1}: floor ${samples.floor.at(-1)!.toFixed(2)} s, suspend ${samples.suspend.at(-1)!.toFixed(2)} s, resume ${samples.port.at(-1)!.toFixed(2)} s (port shells), ${samples.ssh.at(-1)!.toFixed(2)} s (SSH)`,
      );
    }
  } finally {
    await downLab(demo, { force: true });
    rmSync(home, { recursive: true, force: true });
  }
  const base = 'npx tsx empty.ts (resume-cli bench)';
  const plus = (s: number) => `≤ floor + ${s.toFixed(1)} s (${(median(samples.floor) + s).toFixed(2)} s)`;
  return [
    { name: base, samples: samples.floor },
    { name: 'npx tsx tasks.ts suspend demo', samples: samples.suspend, baseline: base, goal: plus(0.5) },
    { name: 'npx tsx tasks.ts resume demo → every layer ran uname, through the port shells', samples: samples.port, baseline: base, goal: plus(1.0) },
    { name: 'npx tsx tasks.ts resume demo → every layer ran uname, over SSH (GRAINCHART_PORT_SHELL=0)', samples: samples.ssh, baseline: base },
  ];
}
