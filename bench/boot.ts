// boot: the tiny guest from launch to `uname -a` over SSH, through the kit (bootVm: preflight,
// image lookup, staged readiness) against a raw baseline: the same QEMU argv spawned by
// hand and an ssh2 poll loop, as a shell script would do it.  Runs alternate.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ssh2';
import { readFileSync } from 'node:fs';
import { resolveLab } from '../tasks/spec/resolve.ts';
import { findVm } from '../tasks/spec/tree.ts';
import { localHostFacts } from '../tasks/spec/load.ts';
import { bootVm } from '../tasks/vm/boot.ts';
import { hostMachine } from '../tasks/machine/host.ts';
import { kitPaths } from '../tasks/util/paths.ts';
import { qemuArgs } from '../tasks/qemu/args.ts';
import { probeHost } from '../tasks/qemu/host-probe.ts';
import { labKeys } from '../tasks/ssh/keys.ts';
import { buildTinyImage, imagePaths } from '../tasks/image/build.ts';
import { stopQemu } from '../tasks/vm/stop.ts';
import { readPidfile } from '../tasks/qemu/process.ts';
import { createDisk } from '../tasks/qemu/disk-image.ts';
import { timeIt, type Row } from './stats.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sshUname(port: number, key: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const c = new Client();
    c.on('ready', () =>
      c.exec('uname -a', (err, s) => {
        if (err) return resolve(false);
        s.on('close', (code: number) => {
          c.end();
          resolve(code === 0);
        }).resume();
      }),
    );
    c.on('error', () => resolve(false));
    // A tight but ordinary loop: give up on an attempt after 1 s, try again 0.1 s later.
    c.connect({ host: '127.0.0.1', port, username: 'root', privateKey: key, readyTimeout: 1000 });
  });
}

export async function benchBoot(runs = 7, port = 10522): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-boot-'));
  process.env.GRAINCHART_HOME = home;
  try {
    const lab = resolveLab(
      { name: 'bench', vms: [{ name: 'b1', cpus: 1, memory: 512, boot: { image: 'tiny' }, network: { sshPort: port } }] },
      localHostFacts(),
      'bench',
    );
    const place = findVm(lab, 'b1')!;
    const paths = kitPaths('bench', 'b1');
    const probe = await probeHost();
    const img = await buildTinyImage({ quiet: true });
    const ip = imagePaths(img);
    const keys = labKeys('bench');
    const key = readFileSync(keys.privateKeyPath);
    const kit: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < runs; i++) {
      // The kit, from a fresh overlay each time.
      rmSync(join(paths.vm.dir, 'root.qcow2'), { force: true });
      kit.push(await timeIt(() => bootVm(hostMachine, lab, place, { quiet: true })));
      await stopQemu(hostMachine, hostMachine.ref(lab, place), readPidfile(paths.vm), { graceful: false });
      // Raw: the same argv, spawned by hand, then poll SSH.
      rmSync(join(paths.vm.dir, 'root.qcow2'), { force: true });
      await createDisk(join(paths.vm.dir, 'root.qcow2'), { format: 'qcow2', backing: ip.rootDisk });
      const args = qemuArgs(place.vm, probe.kvm, {
        ...paths,
        authorizedKey: keys.publicKey,
        images: { tiny: { kernel: ip.kernel, initrd: ip.initrd, initrdDisk: ip.initrdDisk } },
      });
      raw.push(
        await timeIt(async () => {
          await new Promise((r) => spawn(probe.qemu.path!, args, { stdio: 'ignore' }).on('exit', r));
          while (!(await sshUname(port, key))) await sleep(100);
        }),
      );
      await stopQemu(hostMachine, hostMachine.ref(lab, place), readPidfile(paths.vm), { graceful: false });
    }
    return [
      { name: 'raw qemu + ssh poll → uname', samples: raw },
      { name: 'kit boot → uname (TCG)', samples: kit, baseline: 'raw qemu + ssh poll → uname', goal: '≤ 1.05×, ≤ 4 s' },
    ];
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
