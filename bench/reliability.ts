// reliability (opt-in): cold `up`s of a nested lab as CI runs them — a fresh state folder, keys
// and SSH port each time, through the CLI — each followed by a command in the deepest child
// and `down`.  Counts what came up, what the kit retried on the way (stages that met a dropped
// SSH connection), and keeps the folder of every failure (serial logs, QEMU stderr, state,
// ssh2's trace of every connection, the host's load, and from inside the parent its dmesg and
// its children's logs).
//   npx tsx bench/reliability.ts tiny 30      the suites' tiny nested pair
//   npx tsx bench/reliability.ts debian 10    the debian-nest lab (~5 min a run)
import { spawnSync } from 'node:child_process';
import { cpSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../tasks/util/paths.ts';
import { median } from './stats.ts';
import { tinyNestVm } from '../test/helpers/spec-lab.ts';

const TASKS = join(PROJECT_ROOT, 'tasks.ts');
const INSIDE_PARENT =
  'dmesg | tail -n 150; for f in /var/lib/grainchart/vms/*/*/serial.log /var/lib/grainchart/vms/*/*/qemu.stderr; do echo "== $f"; tail -n 80 "$f"; done';

interface Shape {
  /** The spec to write (a fresh port each run), or a built-in lab's name. */
  spec: () => Promise<object | string>;
  lab: string;
  child: string;
  /** The child's parent: on a failure, its dmesg and its VMs' logs are kept too. */
  parent: string;
  timeoutS: number;
}

const SHAPES: Record<string, Shape> = {
  tiny: {
    lab: 'reltest',
    child: 's2',
    parent: 's1',
    timeoutS: 300,
    spec: async () => ({ name: 'reltest', vms: [await tinyNestVm('s1', 's2')] }),
  },
  debian: { lab: 'debian-nest', child: 'stable', parent: 'nest', timeoutS: 1200, spec: async () => 'debian-nest' },
};

interface RunResult {
  up: boolean;
  child: boolean;
  seconds: number;
  retried: string[];
  kept?: string;
  failure?: string;
}

async function once(shape: Shape, keep: string, n: number): Promise<RunResult> {
  const home = mkdtempSync(join(tmpdir(), 'gc-rel-'));
  const spec = await shape.spec();
  const specArgs = typeof spec === 'string' ? [spec] : [];
  const file = join(home, 'lab.json');
  if (typeof spec !== 'string') writeFileSync(file, JSON.stringify(spec));
  const k = (args: string[], timeoutS: number) =>
    spawnSync(process.execPath, ['--import', 'tsx', TASKS, ...(typeof spec === 'string' ? [] : ['--spec', file]), ...args], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      // ssh2's trace of every connection, kept with a failure.
      env: { ...process.env, GRAINCHART_HOME: home, GRAINCHART_AGENT: '0', GRAINCHART_SSH_DEBUG: join(home, 'ssh-debug.log') },
      timeout: timeoutS * 1000,
    });
  const t0 = Date.now();
  const up = k(['up', ...specArgs, '--json'], shape.timeoutS);
  const seconds = (Date.now() - t0) / 1000;
  // `up --json` prints JSON Lines: a record per VM, then `done` with every step.
  const done =
    up.status === 0
      ? up.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l))
          .find((e) => e.event === 'done')
      : undefined;
  const steps = (done?.steps ?? []) as Array<{ vm: string; result?: { metrics?: { retries?: Array<{ stage: string; times: number }> } } }>;
  const retried = steps.flatMap((s) => (s.result?.metrics?.retries ?? []).map((r) => `${s.vm}: ${r.stage} ×${r.times}`));
  const exec = up.status === 0 ? k(['exec', shape.child, '--', 'uname', '-r'], 120) : undefined;
  const result: RunResult = { up: up.status === 0, child: exec?.status === 0, seconds, retried };
  if (!result.up || !result.child) {
    result.failure = (up.status !== 0 ? up.stderr : (exec?.stderr ?? '')).split('\n').slice(0, 3).join(' ');
    result.kept = join(keep, `run-${n}`);
    // What the parent saw, if it still answers: its kernel's log, its children's serial logs and QEMU stderr.
    const inside = k(['exec', shape.parent, '--', 'sh', '-c', INSIDE_PARENT], 90);
    // A lab left up has its QMP sockets there, which cannot be copied.
    cpSync(home, result.kept, { recursive: true, filter: (src) => !lstatSync(src).isSocket() });
    writeFileSync(join(result.kept, 'up.stderr'), up.stderr);
    writeFileSync(join(result.kept, 'inside-parent.txt'), `${inside.stdout}\n${inside.stderr}`);
    writeFileSync(join(result.kept, 'host-load.txt'), readFileSync('/proc/loadavg', 'utf8'));
  }
  k(['down', ...specArgs, '--force', '--yes'], 300);
  rmSync(home, { recursive: true, force: true });
  return result;
}

export async function benchReliability(which: string, runs: number): Promise<string> {
  const shape = SHAPES[which];
  if (!shape) throw new Error(`reliability: no lab shape "${which}" (tiny, debian)`);
  const keep = mkdtempSync(join(tmpdir(), `gc-rel-failures-${which}-`));
  const results: RunResult[] = [];
  for (let i = 1; i <= runs; i++) {
    const r = await once(shape, keep, i);
    results.push(r);
    console.error(
      `${which} ${i}/${runs}: ${r.up ? 'up' : 'UP FAILED'}${r.up ? (r.child ? ', child answered' : ', CHILD SILENT') : ''} in ${r.seconds.toFixed(1)} s${r.retried.length ? `; retried ${r.retried.join(', ')}` : ''}${r.kept ? `; kept ${r.kept}: ${r.failure}` : ''}`,
    );
  }
  const ok = results.filter((r) => r.up && r.child);
  const times = ok.map((r) => r.seconds);
  const retried = results.filter((r) => r.retried.length).length;
  return [
    '| lab | consecutive cold ups | came up, child answered | with a retried stage | failed | up: median | min | max |',
    '|---|---|---|---|---|---|---|---|',
    `| ${shape.lab} (${which}) | ${runs} | ${ok.length} | ${retried} | ${runs - ok.length} | ${times.length ? `${median(times).toFixed(1)} s` : '–'} | ${times.length ? `${Math.min(...times).toFixed(1)} s` : '–'} | ${times.length ? `${Math.max(...times).toFixed(1)} s` : '–'} |`,
    ...results.filter((r) => r.kept).map((r) => `\nfailure kept in ${r.kept}: ${r.failure}`),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [which = 'tiny', runs = '30'] = process.argv.slice(2);
  console.log(await benchReliability(which, Number(runs)));
}
