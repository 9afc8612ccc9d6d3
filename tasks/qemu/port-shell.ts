// The kit's shell on a virtio-serial port, QEMU's side: a kit image serves a root shell on the
// port named gc.shell (image/init-scripts.ts, gc-shell), and its QEMU connects that port to a
// `-chardev pipe` — two FIFOs, PATH.in and PATH.out, in the VM's 0700 folder.  QEMU holds both
// open read-write, so the guest's side is always connected and its shell never reads an end of
// file; whoever writes a command line into PATH.in reads its output from PATH.out
// (console/port-shell.ts).  A resume asks each layer through it, no SSH handshake.
import { optValue, type ArgSection } from './plan.ts';
import { shellPipe, VM_FILES } from '../util/paths.ts';

/** The kit's own images serve the shell: tiny and tiny-nest, and its Debian cloud images (not a cloud image file of the user's). */
export function servesPortShell(boot: unknown): boolean {
  if (typeof boot !== 'object' || boot === null) return false;
  return 'image' in boot || ('cloudImage' in boot && ['debian', 'debian-nest'].includes(String(boot.cloudImage)));
}

/** The port and its pipe, last on the command line so that no other device moves. */
export function portShellSection(vm: { dir: string }): ArgSection {
  const pipe = shellPipe(vm);
  return {
    section: 'shell',
    args: [
      '-device',
      'virtio-serial-pci,id=gcser',
      '-chardev',
      `pipe,id=gcsh,path=${optValue(pipe)}`,
      '-device',
      'virtserialport,bus=gcser.0,chardev=gcsh,name=gc.shell',
    ],
    note: `the kit's shell on a virtio-serial port (gc.shell), FIFOs ${VM_FILES.shell}.in/.out in the VM's folder: a resume asks each layer through it, no SSH handshake`,
    facts: { shellPipe: pipe },
  };
}

/** The FIFOs a command line's pipe chardevs open (PATH.in and PATH.out each): they must exist before QEMU starts. */
export function pipeFifos(argv: string[]): string[] {
  return argv.flatMap((a, i) => {
    const m = argv[i - 1] === '-chardev' ? /^pipe,(?:.*,)?path=((?:[^,]|,,)*)/.exec(a) : null;
    return m ? [`${m[1]!.replace(/,,/g, ',')}.in`, `${m[1]!.replace(/,,/g, ',')}.out`] : [];
  });
}
