// One NixOS test VM on a 40G disk, SSH on 2223.
import { defineLab } from '../tasks/spec/define.ts';

export default defineLab({
  name: 'nixos-test',
  description: 'A single NixOS test VM',
  vms: [
    {
      name: 'nixos-test',
      title: 'NixOS Test',
      os: 'NixOS',
      accel: 'kvm',
      cpu: 'host,+vmx,+svm',
      cpus: 4,
      memory: 8192,
      disk: { file: '~/VMs/disks/nixos-test.qcow2', size: '40G' },
      boot: 'disk',
      network: { sshPort: 2223 },
      display: 'gtk',
      vga: 'virtio',
      ssh: { user: 'nixos' },
      nixos: { stateVersion: '23.11' },
    },
  ],
});
