// A lab of a suite's own, given as a spec: a state folder made before its tests, the kit run
// against that spec as a user would, and after the tests the lab brought down, any QEMU of
// that folder killed and the folder removed.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kit } from './cli.ts';
import { freePort, qemusUnder } from './vm.ts';

export interface SpecLab {
  readonly home: string;
  readonly spec: string;
  readonly env: NodeJS.ProcessEnv;
  /** `tasks.ts --spec SPEC ...args`, in the lab's state folder. */
  k(...args: string[]): ReturnType<typeof kit>;
  /** The run, after asserting it exited 0 (its stderr is the message otherwise). */
  ok(r: ReturnType<typeof kit>): ReturnType<typeof kit>;
  json(r: ReturnType<typeof kit>): any;
  /** [name, state] of every VM, as `status --json` says. */
  states(): Array<[string, string]>;
}

/**
 * The smallest nested pair, as most suites nest: a tiny-nest parent (2 CPUs, 1.5 GiB, on a
 * free port) with a tiny child inside it on port 2224; `extra` joins the parent's fields,
 * `childExtra` the child's.
 */
export async function tinyNestVm(parent: string, child: string, extra: object = {}, childExtra: object = {}): Promise<object> {
  return {
    name: parent,
    cpus: 2,
    memory: '1536M',
    boot: { image: 'tiny-nest' },
    vga: 'none',
    network: { sshPort: await freePort() },
    ...extra,
    children: [{ name: child, cpus: 1, memory: 512, boot: { image: 'tiny' }, vga: 'none', network: { sshPort: 2224 }, ...childExtra }],
  };
}

/**
 * `lab()` makes the spec (it may ask for free ports) before the suite's tests; `env` joins
 * every run's; `ts`: the spec is a TypeScript file (`export default {…}`), else JSON.
 */
export function specLab(prefix: string, lab: () => Promise<object> | object, env: NodeJS.ProcessEnv = {}, opts: { ts?: boolean } = {}): SpecLab {
  const l = {
    home: '',
    spec: '',
    get env() {
      return { ...env, GRAINCHART_HOME: l.home };
    },
    k: (...args: string[]) => kit(['--spec', l.spec, ...args], { env: l.env }),
    ok: (r: ReturnType<typeof kit>) => {
      assert.equal(r.status, 0, r.stderr);
      return r;
    },
    json: (r: ReturnType<typeof kit>) => JSON.parse(l.ok(r).stdout),
    states: () => l.json(l.k('status', '--json')).map((r: { name: string; state: string }) => [r.name, r.state]),
  };
  before(async () => {
    l.home = mkdtempSync(join(tmpdir(), prefix));
    l.spec = join(l.home, opts.ts ? 'lab.ts' : 'lab.json');
    const spec = await lab();
    writeFileSync(l.spec, opts.ts ? `export default ${JSON.stringify(spec, null, 2)};\n` : JSON.stringify(spec));
  });
  after(() => {
    kit(['--spec', l.spec, 'down', '--force', '--yes'], { env: l.env });
    for (const pid of qemusUnder(l.home)) process.kill(pid, 'SIGKILL');
    rmSync(l.home, { recursive: true, force: true });
  });
  return l;
}
