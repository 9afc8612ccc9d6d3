// Helpers for tests that boot real guests: a free port, a throwaway state folder and lab,
// and a census of QEMU processes started from that folder.
import { before, after } from 'node:test';
import { createServer } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runningRamFile } from '../../tasks/util/paths.ts';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** pids of QEMU processes whose command line mentions `dir` (our state folder). */
export function qemusUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (argv.startsWith('qemu-system') || argv.includes('/qemu-system')) if (argv.includes(dir)) pids.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return pids;
}

export interface TestLab {
  home: string; // GRAINCHART_HOME
  spec: string; // JSON spec file
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

/** A lab of one tiny guest per given name, each with its own free SSH port. */
export async function tinyLab(name: string, vms: Array<{ name: string; extra?: object }>): Promise<TestLab & { ports: Record<string, number> }> {
  const home = mkdtempSync(join(tmpdir(), 'gc-vm-'));
  const ports: Record<string, number> = {};
  const spec = join(home, `${name}.json`);
  const list = [];
  for (const v of vms) {
    ports[v.name] = await freePort();
    list.push({ name: v.name, cpus: 1, memory: 512, boot: { image: 'tiny' }, network: { sshPort: ports[v.name] }, ...v.extra });
  }
  writeFileSync(spec, JSON.stringify({ name, vms: list }));
  return {
    home,
    spec,
    ports,
    env: { GRAINCHART_HOME: home },
    cleanup() {
      for (const pid of qemusUnder(home)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      // A QEMU killed here leaves its RAM file in /dev/shm, outside the home.
      for (const v of vms) rmSync(runningRamFile(join(home, name, v.name)), { force: true });
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** A GRAINCHART_HOME of the calling suite's own: made before its tests, removed after. */
export function suiteHome(prefix: string): { readonly dir: string } {
  const h = { dir: '' };
  before(() => {
    h.dir = mkdtempSync(join(tmpdir(), prefix));
    process.env.GRAINCHART_HOME = h.dir;
  });
  after(() => rmSync(h.dir, { recursive: true, force: true }));
  return h;
}
