// resume-cli: `suspend LAB` and `resume LAB` as a user types them (CLI wall, the process start
// included), against `npx tsx` of an empty file — the floor every CLI call pays — in the same
// run: resume asking each layer through the port shells (the default), and over SSH
// (GRAINCHART_PORT_SHELL=0); each resume returns once every layer ran `uname -a` and had its
// clock set, and its `--json` says when each layer answered (from the resume's start).  The
// lab comes up once; the runs alternate, each after the lab agent has opened its sessions.
// `demo` by default; `npx tsx bench/run.ts resume-cli-debian-nest` (opt-in: its cold up takes
// about 5 minutes under TCG) does the same for the real distributions of `debian-nest`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downLab } from '../tasks/lab/down.ts';
import { upLab } from '../tasks/lab/up.ts';
import { loadLab } from '../tasks/spec/load.ts';
import { PROJECT_ROOT } from '../tasks/util/paths.ts';
import { median, timeIt, type Row } from './stats.ts';
import { emptyTsFile, npxTsx } from './startup.ts';
import { askStatus } from '../tasks/agent/client.ts';

interface Subject {
  lab: string;
  /** The layer whose answer the goal is about, and that goal (from the resume's start), if any. */
  watch: string;
  watchGoal?: string;
}

const DEMO: Subject = { lab: 'demo', watch: 'l2' };
const DEBIAN_NEST: Subject = { lab: 'debian-nest', watch: 'stable', watchGoal: '≤ 2.0 s' };

export const benchResumeCli = (runs = 7) => benchResumeCliOf(DEMO, runs);
export const benchResumeCliDebianNest = (runs = Number(process.env.BENCH_RUNS) || 5) => benchResumeCliOf(DEBIAN_NEST, runs);

async function benchResumeCliOf(s: Subject, runs: number): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-rcli-'));
  process.env.GRAINCHART_HOME = home;
  const env = { ...process.env, GRAINCHART_HOME: home };
  const lab = await loadLab(s.lab);
  const floor = npxTsx([emptyTsFile(home)], env);
  const suspend = npxTsx(['tasks.ts', 'suspend', s.lab], env);
  /** The resume, timed whole; its --json's word on when the watched layer answered. */
  const resume = async (extra: NodeJS.ProcessEnv, walls: number[], answers: number[]) => {
    let out = '';
    walls.push(
      await timeIt(async () => {
        out = execFileSync('npx', ['tsx', 'tasks.ts', 'resume', s.lab, '--json'], { cwd: PROJECT_ROOT, encoding: 'utf8', env: { ...env, ...extra } });
      }),
    );
    const layer = (JSON.parse(out) as { layers: Array<{ vm: string; readyS: number; via: string }> }).layers.find((l) => l.vm === s.watch);
    if (!layer) throw new Error(`resume ${s.lab} --json names no layer ${s.watch}`);
    answers.push(layer.readyS);
    return layer.via;
  };
  // After a resume the lab agent opens its SSH sessions (a handshake per layer, CPU in the
  // guests and here): the next timing waits until it has, as a user's next command would find it.
  const settled = async () => {
    for (let i = 0; i < 40 && !(await askStatus(s.lab, undefined, 15_000)); i++) await new Promise((r) => setTimeout(r, 250));
  };
  const samples = { floor: [] as number[], suspend: [] as number[], port: [] as number[], ssh: [] as number[], portAt: [] as number[], sshAt: [] as number[] };
  try {
    await upLab(lab, { quiet: true });
    await floor(); // tsx warms its cache
    for (let i = 0; i < runs; i++) {
      samples.floor.push(await timeIt(floor));
      samples.suspend.push(await timeIt(suspend));
      const via = await resume({}, samples.port, samples.portAt);
      if (via !== 'port-shell') throw new Error(`resume ${s.lab} reached ${s.watch} ${via}, not through the port shells`);
      await settled();
      await suspend();
      await resume({ GRAINCHART_PORT_SHELL: '0' }, samples.ssh, samples.sshAt);
      await settled();
      console.error(
        `resume-cli ${s.lab} run ${i + 1}: floor ${samples.floor.at(-1)!.toFixed(2)} s, suspend ${samples.suspend.at(-1)!.toFixed(2)} s, resume ${samples.port.at(-1)!.toFixed(2)} s (port shells; ${s.watch} at ${samples.portAt.at(-1)!.toFixed(2)} s), ${samples.ssh.at(-1)!.toFixed(2)} s (SSH; ${s.watch} at ${samples.sshAt.at(-1)!.toFixed(2)} s)`,
      );
    }
  } finally {
    await downLab(lab, { force: true });
    rmSync(home, { recursive: true, force: true });
  }
  const base = `npx tsx empty.ts (resume-cli ${s.lab} bench)`;
  const plus = (x: number) => `≤ floor + ${x.toFixed(1)} s (${(median(samples.floor) + x).toFixed(2)} s)`;
  const overSsh = `resume ${s.lab}: ${s.watch} answered, over SSH (GRAINCHART_PORT_SHELL=0), from the resume's start`;
  return [
    { name: base, samples: samples.floor },
    { name: `npx tsx tasks.ts suspend ${s.lab}`, samples: samples.suspend, baseline: base, goal: s.lab === 'demo' ? plus(0.5) : undefined },
    {
      name: `npx tsx tasks.ts resume ${s.lab} → every layer ran uname, through the port shells`,
      samples: samples.port,
      baseline: base,
      goal: s.lab === 'demo' ? plus(1.0) : undefined,
    },
    { name: `npx tsx tasks.ts resume ${s.lab} → every layer ran uname, over SSH (GRAINCHART_PORT_SHELL=0)`, samples: samples.ssh, baseline: base },
    { name: overSsh, samples: samples.sshAt },
    {
      name: `resume ${s.lab}: ${s.watch} answered, through the port shells, from the resume's start`,
      samples: samples.portAt,
      baseline: overSsh,
      goal: s.watchGoal,
    },
  ];
}
