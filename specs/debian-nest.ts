// Real distributions in both layers, built from Debian's packages alone: the host runs a
// Debian with QEMU (the kit's `debian-nest` image), and Debian Stable runs nested inside it
// under KVM — the parent's emulated SVM when the host has only TCG.
// A tiny guest runs beside it in the same parent.
import { defineLab } from '../tasks/spec/define.ts';

export default defineLab({
  name: 'debian-nest',
  description: 'Host → Debian with QEMU (systemd, OpenSSH, cloud-init) → Debian Stable nested, and a tiny guest beside it',
  vms: [
    {
      name: 'nest',
      title: 'Debian with QEMU',
      os: 'Debian 12 + QEMU',
      cpus: 2,
      memory: '3G',
      // The children's images are handed to it as read-only disks: nothing is copied in.
      boot: { cloudImage: 'debian-nest', size: '8G' },
      vga: 'none',
      network: { sshPort: 10122 },
      labels: { role: 'guest-vm' },
      checks: [
        'ssh',
        'disk',
        'kvm',
        'child-reachable',
        { name: 'systemd is up', run: 'systemctl is-system-running --wait', expect: { stdout: '^(running|degraded)$' } },
      ],
      children: [
        {
          name: 'stable',
          title: 'Debian Stable',
          os: 'Debian 12',
          cpus: 1,
          memory: '1G',
          boot: { cloudImage: 'debian', size: '4G' },
          vga: 'none',
          network: { sshPort: 2224 },
          labels: { role: 'nested-vm' },
          checks: [
            'ssh',
            'disk',
            { name: 'runs under KVM', run: 'dmesg | grep -m1 -o "Hypervisor detected: KVM"', expect: { stdout: '^Hypervisor detected: KVM$' } },
            { name: 'systemd is up', run: 'systemctl is-system-running --wait', expect: { stdout: '^(running|degraded)$' } },
          ],
        },
        {
          name: 'tiny',
          title: 'tiny beside it',
          os: 'tiny (Debian cloud kernel + busybox + dropbear)',
          cpus: 1,
          memory: '512M',
          boot: { image: 'tiny' },
          vga: 'none',
          network: { sshPort: 2226 },
          labels: { role: 'nested-vm' },
          checks: ['ssh', { name: 'knows its name', run: 'hostname', expect: { stdout: '^tiny$' } }],
        },
      ],
    },
  ],
});
