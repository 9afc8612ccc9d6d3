// nested: cold `up demo` (host → L1 → L2) until L2 answers `uname -a` over SSH, through
// the kit, against a raw script doing the same by hand: spawn L1 with the same argv, poll
// SSH, then in L1 load kvm, make L2's overlay, spawn L2 with the same argv, poll SSH
// through L1.  Overlays are made fresh before each run, outside the timing.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveLab } from '../tasks/spec/resolve.ts';
import { findVm } from '../tasks/spec/tree.ts';
import { localHostFacts } from '../tasks/spec/load.ts';
import { kitPaths } from '../tasks/util/paths.ts';
import { qemuArgs } from '../tasks/qemu/args.ts';
import { probeHost, type KvmVerdict } from '../tasks/qemu/host-probe.ts';
import { hostKeyAlias, labKeys, pinHostKey } from '../tasks/ssh/keys.ts';
import { buildNestImage, childOf, imagePaths } from '../tasks/image/build.ts';
import { createDisk } from '../tasks/qemu/disk-image.ts';
import { Guest } from '../tasks/ssh/guest.ts';
import { shellQuote } from '../tasks/util/shell-quote.ts';
import { guestRef } from '../tasks/machine/guest.ts';
import { GUEST_IMAGE_DIR } from '../tasks/image/nest.ts';
import { downLab } from '../tasks/lab/down.ts';
import { upLab } from '../tasks/lab/up.ts';
import { readLabInput } from '../tasks/spec/load.ts';
import { timeIt, type Row } from './stats.ts';
import { pollGuest } from './poll.ts';

const KVM_IN_L1: KvmVerdict = { state: 'usable', vendor: 'amd', nested: true, reason: 'as the kit finds it in L1' };

export async function benchNested(runs = 5): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), 'gc-bench-nest-'));
  process.env.GRAINCHART_HOME = home;
  try {
    const input = (await readLabInput('demo')).input as { vms: Array<{ network: { sshPort: number } }> };
    input.vms[0]!.network.sshPort = 10722;
    const lab = resolveLab(input, localHostFacts(), 'bench');
    const l1 = findVm(lab, 'l1')!;
    const l2 = findVm(lab, 'l2')!;
    const probe = await probeHost();
    const img = await buildNestImage({ quiet: true });
    const ip = imagePaths(img);
    const keys = labKeys(lab.name);
    const childKey = childOf(img)!.hostKeyPub;
    pinHostKey(keys.knownHostsPath, hostKeyAlias(lab.name, 'l2'), childKey);
    const p1 = kitPaths(lab.name, 'l1');
    const overlay = join(p1.vm.dir, 'root.qcow2');
    const target = (name: string, port: number, hostKey: string) => ({
      name,
      host: '127.0.0.1',
      port,
      user: 'root',
      privateKeyPath: keys.privateKeyPath,
      hostKey,
    });
    const kit: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < runs; i++) {
      rmSync(overlay, { force: true });
      kit.push(await timeIt(() => upLab(lab, { quiet: true })));
      await downLab(lab, { force: true });

      rmSync(overlay, { force: true });
      await createDisk(overlay, { format: 'qcow2', backing: ip.rootDisk });
      const a1 = qemuArgs(l1.vm, probe.kvm, {
        ...p1,
        authorizedKey: keys.publicKey,
        images: { 'tiny-nest': { kernel: ip.kernel, initrd: ip.initrd, initrdDisk: ip.initrdDisk } },
      });
      const l2ref = guestRef(lab, l2, 'root');
      const inner = l2ref.paths;
      const a2 = qemuArgs(l2.vm, KVM_IN_L1, {
        home: '/root',
        vm: inner,
        authorizedKey: keys.publicKey,
        qmpTcpPort: l2ref.qmpPort,
        images: { tiny: { kernel: `${GUEST_IMAGE_DIR}/vmlinuz`, initrd: `${GUEST_IMAGE_DIR}/initrd.img`, initrdDisk: `${GUEST_IMAGE_DIR}/initrd-disk.img` } },
      });
      raw.push(
        await timeIt(async () => {
          await new Promise((r) => spawn(probe.qemu.path!, a1, { stdio: 'ignore' }).on('exit', r));
          const g1 = await pollGuest('l1', () => Guest.connect(target('l1', 10722, img.hostKeyPub), 1000));
          await g1.succeed(
            `for m in irqbypass kvm kvm-amd; do insmod /lib/modules/gc/$m.ko 2>/dev/null; done; mkdir -p ${inner.dir}; rm -f ${inner.dir}/root.qcow2; ` +
              `qemu-img create -q -f qcow2 -b ${GUEST_IMAGE_DIR}/root.qcow2 -F qcow2 ${inner.dir}/root.qcow2 && qemu-system-x86_64 ${a2.map(shellQuote).join(' ')}`,
          );
          const g2 = await pollGuest('l2', () => g1.connectChild(target('l2', 2224, childKey), 1000));
          g2.parent = undefined;
          g2.close();
          g1.close();
        }),
      );
      await downLab(lab, { force: true });
    }
    return [
      { name: 'raw: L1 + ssh poll, then L2 inside + ssh poll', samples: raw },
      { name: 'kit: cold up demo → L2 uname', samples: kit, baseline: 'raw: L1 + ssh poll, then L2 inside + ssh poll', goal: '≤ 12 s' },
    ];
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
