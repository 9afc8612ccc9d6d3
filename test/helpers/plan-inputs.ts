// The inputs a boot would give qemuPlan, made up for pure tests: fixed state paths, a lab key,
// and the kit's images at short fake paths.
import type { ArgInputs } from '../../tasks/qemu/args.ts';
import { vmPaths } from '../../tasks/util/paths.ts';

export const planInputs = (lab: string, vm: string): ArgInputs => ({
  home: '/home/lover',
  vm: vmPaths('/var/lib/gc', lab, vm),
  authorizedKey: 'ssh-ed25519 AAAAkey grainchart-test',
  images: {
    tiny: { kernel: '/img/vmlinuz', initrd: '/img/initrd.img', initrdDisk: '/img/initrd-disk.img' },
    'tiny-nest': { kernel: '/nest/vmlinuz', initrd: '/nest/initrd.img', initrdDisk: '/nest/initrd-disk.img' },
  },
});
