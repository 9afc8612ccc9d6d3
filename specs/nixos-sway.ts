// Three layers on a workstation: an Ubuntu 24.04 host runs "NixOS Sway" under KVM with
// nesting exposed, and NixOS runs "Debian Stable" inside it.  The values are those of the
// hand-written QEMU command lines this lab replaces (test/unit/qemu-args.test.ts holds them);
// the disks under ~/VMs are yours to install.
import { defineLab } from '../tasks/spec/define.ts';

export default defineLab({
  name: 'nixos-sway',
  description: 'Ubuntu 24.04 host → NixOS + Sway guest → Debian Stable nested guest',
  host: { title: 'Ubuntu 24.04 LTS', os: 'Ubuntu 24.04 LTS' },
  vms: [
    {
      name: 'nixos-sway',
      title: 'NixOS Sway',
      os: 'NixOS 23.11 + Sway',
      machine: 'q35',
      accel: 'kvm',
      cpu: 'host,+vmx,+svm',
      cpus: 4,
      memory: 8192,
      disk: { file: '~/VMs/disks/nixos-sway.qcow2', size: '40G', format: 'qcow2', interface: 'virtio' },
      boot: 'disk',
      network: { sshPort: 2223 },
      display: 'gtk',
      vga: 'virtio',
      ssh: { user: 'nixos' },
      labels: { role: 'guest-vm', desktop: 'sway' },
      // Its configuration.nix, as `nix-config nixos-sway` renders it (nix/nixos-sway/).
      nixos: { stateVersion: '23.11', bootloader: 'systemd-boot', desktop: 'sway', packages: ['git', 'vim', 'curl', 'htop'] },
      children: [
        {
          name: 'debian',
          title: 'Debian Stable',
          os: 'Debian 12',
          accel: 'kvm',
          cpu: 'host',
          cpus: 2,
          memory: '2G',
          disk: { file: '~/VMs/disks/debian-deploy.qcow2', size: '20G', format: 'qcow2' },
          boot: 'disk',
          network: { sshPort: 2224 },
          ssh: { user: 'deployer' },
          labels: { role: 'nested-vm' },
        },
      ],
    },
  ],
});
