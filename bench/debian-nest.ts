// debian-nest: cold `up` of real distributions nested (a Debian with QEMU on this host,
// Debian Stable inside it under KVM) until the child is ready, through the kit, against a
// raw script doing the same by hand with the same argv: spawn the parent, poll SSH and
// cloud-init; inside it load kvm_amd, link the carried image, make the child's overlay, copy
// its seed, kernel and initramfs, spawn it; poll its SSH and cloud-init through the parent.
// Both wait for the same readiness (cloud-init's boot-finished in each layer).  Overlays
// and seeds are made fresh before each run, outside the timing.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveLab } from '../tasks/spec/resolve.ts';
import { findVm } from '../tasks/spec/tree.ts';
import { localHostFacts, readLabInput } from '../tasks/spec/load.ts';
import { kitPaths } from '../tasks/util/paths.ts';
import { qemuArgs } from '../tasks/qemu/args.ts';
import { probeHost, type KvmVerdict } from '../tasks/qemu/host-probe.ts';
import { hostKeyAlias, labKeys, pinHostKey } from '../tasks/ssh/keys.ts';
import { Guest } from '../tasks/ssh/guest.ts';
import { shellQuote } from '../tasks/util/shell-quote.ts';
import { guestRef } from '../tasks/machine/guest.ts';
import { createDisk } from '../tasks/qemu/disk-image.ts';
import { cloudImageFiles, cloudSeed } from '../tasks/cloud/prepare.ts';
import { carriedBy } from '../tasks/vm/carry.ts';
import { downLab } from '../tasks/lab/down.ts';
import { upLab } from '../tasks/lab/up.ts';
import { timeIt, type Row } from './stats.ts';
import { pollGuest } from './poll.ts';

const KVM_IN_PARENT: KvmVerdict = { state: 'usable', vendor: 'amd', nested: true, reason: 'as the kit finds it in the parent' };
/** Ready: cloud-init has finished, in either layer (what the kit's boot waits for too). */
const FINISHED = 'test -f /var/lib/cloud/instance/boot-finished';

export async function benchDebianNest(runs = Number(process.env.BENCH_RUNS) || 3): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-debnest-'));
  process.env.GRAINCHART_HOME = home;
  try {
    const input = (await readLabInput('debian-nest')).input as { name: string; vms: Array<{ network: { sshPort: number }; children: unknown[] }> };
    input.name = 'benchnest';
    input.vms[0]!.network.sshPort = 10822;
    input.vms[0]!.children = input.vms[0]!.children.slice(0, 1); // the Debian child only
    const lab = resolveLab(input, localHostFacts(), 'bench');
    const parent = findVm(lab, 'nest')!;
    const child = findVm(lab, 'stable')!;
    const probe = await probeHost();
    const keys = labKeys(lab.name);
    const pp = kitPaths(lab.name, 'nest');
    const cp = kitPaths(lab.name, 'stable');
    const kit: number[] = [];
    const raw: number[] = [];
    const fresh = () => {
      for (const vm of ['nest', 'stable']) rmSync(join(kitPaths(lab.name, vm).vm.dir, 'root.qcow2'), { force: true });
    };
    for (let i = 0; i < runs; i++) {
      fresh();
      kit.push(await timeIt(() => upLab(lab, { quiet: true })));
      console.error(`debian-nest run ${i + 1}: kit ${kit.at(-1)!.toFixed(1)} s`);
      await downLab(lab, { force: true });

      // Raw: the same files and argv, made outside the timing.
      fresh();
      const pBoot = parent.vm.boot as { cloudImage: string; size?: number };
      const cBoot = child.vm.boot as { cloudImage: string; size?: number };
      const pf = await cloudImageFiles(parent.vm, pBoot, pp);
      const cf = await cloudImageFiles(child.vm, cBoot, cp);
      const pSeed = await cloudSeed(lab.name, parent.vm, pp.vm.dir, keys.publicKey);
      const cSeed = await cloudSeed(lab.name, child.vm, cp.vm.dir, keys.publicKey);
      pinHostKey(keys.knownHostsPath, hostKeyAlias(lab.name, 'stable'), cSeed.hostKey);
      await createDisk(join(pp.vm.dir, 'root.qcow2'), { format: 'qcow2', backing: pf.image, size: pBoot.size });
      const carry = await carriedBy(lab, parent);
      const a1 = qemuArgs(parent.vm, probe.kvm, {
        ...pp,
        authorizedKey: keys.publicKey,
        cloud: { seed: pSeed.seed, kernel: pf.kernel, initrd: pf.initrd },
        carry,
      });
      const ref = guestRef(lab, child, 'root');
      const d = ref.paths.dir;
      const a2 = qemuArgs(child.vm, KVM_IN_PARENT, {
        home: '/root',
        vm: ref.paths,
        authorizedKey: keys.publicKey,
        qmpTcpPort: ref.qmpPort,
        cloud: { seed: `${d}/seed.iso`, kernel: `${d}/vmlinuz`, initrd: `${d}/initrd.img` },
      });
      const link = `${d}/image`;
      const target = (name: string, port: number, hostKey: string) => ({
        name,
        host: '127.0.0.1',
        port,
        user: 'root',
        privateKeyPath: keys.privateKeyPath,
        hostKey,
      });
      raw.push(
        await timeIt(async () => {
          await new Promise((r) => spawn(probe.qemu.path!, a1, { stdio: 'ignore' }).on('exit', r));
          const g1 = await pollGuest('nest', () => Guest.connect(target('nest', 10822, pSeed.hostKey), 5000), FINISHED, 600_000);
          await g1.succeed(
            `modprobe kvm_amd; mkdir -p ${d}; for b in /sys/block/vd*; do [ "$(cat $b/serial)" = ${carry[0]!.serial} ] && ln -sfn /dev/\${b##*/} ${link}; done; qemu-img create -q -f qcow2 -b ${link} -F qcow2 ${d}/root.qcow2 ${cBoot.size}`,
          );
          for (const [local, name] of [
            [cSeed.seed, 'seed.iso'],
            [cf.kernel!, 'vmlinuz'],
            [cf.initrd!, 'initrd.img'],
          ] as const)
            await g1.put(local, `${d}/${name}`);
          // Its output to a file, as a script would: a daemonized QEMU holding the channel's stderr keeps OpenSSH's exec open.
          await g1.succeed(`qemu-system-x86_64 ${a2.map(shellQuote).join(' ')} >${d}/qemu.out 2>&1`);
          // A handshake through a TCG parent takes seconds: as long a wait per try as the kit gives it.
          // Shared: closing a try that came too early must not close the parent's connection.
          const g2 = await pollGuest('stable', () => g1.connectChild(target('stable', 2224, cSeed.hostKey), 8000, undefined, true), FINISHED, 600_000);
          g2.parent = undefined;
          g2.close();
          g1.close();
        }),
      );
      console.error(`debian-nest run ${i + 1}: raw ${raw.at(-1)!.toFixed(1)} s`);
      await downLab(lab, { force: true });
    }
    return [
      { name: 'raw: Debian parent + ssh/cloud-init poll, Debian child inside + poll', samples: raw },
      {
        name: 'kit: cold up debian-nest → child ready',
        samples: kit,
        baseline: 'raw: Debian parent + ssh/cloud-init poll, Debian child inside + poll',
        goal: '≤ 1.05×',
      },
    ];
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
