// The embedded default lab: boots on any machine of this kind with nothing downloaded but
// Debian packages.  A tiny guest (l1) under whatever accelerator the host offers, with a
// tiny guest (l2) inside it that uses KVM when l1 exposes it (TCG's -cpu max does).
import { defineLab } from '../tasks/spec/define.ts';

export default defineLab({
  name: 'demo',
  description: 'The embedded default lab: a tiny Debian-built guest with a tiny guest nested inside',
  // What `smoke demo` checks in each of the three layers.
  host: {
    checks: [
      { name: 'qemu-img answers', run: 'qemu-img --version', expect: { stdout: '^qemu-img version \\d+\\.' } },
      // l1's SSH forward: listening, and on 127.0.0.1 only (every address it listens on, one line).
      {
        name: 'l1 forward on 127.0.0.1 only',
        run: "ss -ltnH 'sport = :10022' | awk '{print $4}' | sort -u | tr '\\n' ' '",
        expect: { stdout: '^127\\.0\\.0\\.1:10022 $' },
      },
    ],
  },
  vms: [
    {
      name: 'l1',
      title: 'demo L1',
      os: 'tiny (Debian cloud kernel + busybox + dropbear)',
      cpus: 2,
      memory: '2G',
      // tiny-nest: the tiny guest plus QEMU, kvm modules and the tiny image for l2.
      boot: { image: 'tiny-nest' },
      // Headless: no VGA device means fewer emulated exits while booting, most of all in l2.
      vga: 'none',
      network: { sshPort: 10022 },
      labels: { role: 'guest-vm' },
      checks: ['ssh', 'disk', 'kvm', 'child-reachable', { name: 'boots the cloud kernel', run: 'uname -r', expect: { stdout: '-cloud-amd64$' } }],
      children: [
        {
          name: 'l2',
          title: 'demo L2',
          os: 'tiny (Debian cloud kernel + busybox + dropbear)',
          cpus: 1,
          memory: '512M',
          boot: { image: 'tiny' },
          vga: 'none',
          network: { sshPort: 2224 },
          labels: { role: 'nested-vm' },
          checks: [
            'ssh',
            'disk',
            { name: 'knows its name', run: 'hostname', expect: { stdout: '^l2$' } },
            { name: 'runs under a hypervisor', run: 'grep -c hypervisor /proc/cpuinfo', expect: { stdout: '^[1-9]' } },
          ],
        },
      ],
    },
  ],
});
