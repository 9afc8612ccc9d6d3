// `install VM --iso FILE`: boot the VM with its disk and an installer ISO — the CD first,
// once, then the disk — with a screen: a GTK window where there is a display, else VNC on
// 127.0.0.1 (the port is printed).  After the installer powers off, `boot VM` starts the
// installed system from the disk.
import { withLabLock } from '../../lab/lock.ts';
import type { LabResolved, VmPlace, VmResolved } from '../../spec/tree.ts';
import { resolve } from 'node:path';
import type { TaskContext } from '../../cli/registry.ts';
import { inputFileProblem } from '../../util/file-checks.ts';
import { UsageError } from '../../util/errors.ts';
import { loadVm } from '../../spec/load.ts';
import { expandPath, kitPaths } from '../../util/paths.ts';
import { libvirtUri } from '../../spec/tree.ts';
import { hostMachine } from '../../machine/host.ts';
import { withQmp } from '../../machine/machine.ts';
import { readState } from '../../machine/record.ts';
import { bootVm } from '../../vm/boot.ts';

export async function install(ctx: TaskContext): Promise<void> {
  const { lab, place } = await loadVm(ctx.args[0]!, { spec: ctx.spec, lab: ctx.opts.lab as string | undefined });
  const vm = place.vm;
  const isoOpt = ctx.opts.iso;
  if (typeof isoOpt !== 'string' || !isoOpt) throw new UsageError('install needs --iso FILE, the installer image');
  const iso = resolve(isoOpt);
  const isoProblem = inputFileProblem(iso);
  if (isoProblem) throw new UsageError(`--iso ${iso}: ${isoProblem}`);
  if (place.parent) throw new UsageError(`${vm.name} is nested; install runs guests of the host (nested VMs boot the kit's image)`);
  if (libvirtUri(lab, place))
    throw new UsageError(
      `${vm.name} runs on libvirt (${libvirtUri(lab, place)}); install runs the kit's own QEMU`,
      'install onto a libvirt domain with virt-install, or drop libvirt from the spec to install with the kit',
    );
  const disk0 = vm.disk;
  if (!disk0)
    throw new UsageError(`${vm.name} has no disk to install onto (${place.path}.disk is not set)`, 'add disk: { file: "VM.qcow2", size: "20G" } to the VM');
  return withLabLock(lab.name, `install ${vm.name}`, () => installLocked(ctx, lab, place, iso, disk0), { say: ctx.out.info });
}

/** Through the one boot path, until QMP says running: preflight, the disk and firmware made as a boot makes them, refusals explained, the record kept. */
async function installLocked(ctx: TaskContext, lab: LabResolved, place: VmPlace, iso: string, diskSpec: NonNullable<VmResolved['disk']>): Promise<void> {
  const vm = place.vm;
  const paths = kitPaths(lab.name, vm.name);
  const machine = hostMachine;
  const ref = machine.ref(lab, place);
  // An installer needs a screen: the spec's GTK window when this session has a display, else VNC.
  const hasDisplay = !!(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
  const display = vm.display === 'gtk' && hasDisplay ? 'gtk' : 'vnc';
  const r = await bootVm(machine, lab, place, { quiet: ctx.quiet, warn: ctx.out.warn, installer: { iso, display } });
  const vnc =
    display === 'vnc'
      ? await withQmp(machine, ref, 3000, (q) => q.execute<{ enabled: boolean; host?: string; service?: string }>('query-vnc', undefined, 3000))
      : undefined;
  const argv = readState(paths.vm)?.argv ?? [];
  const disk = expandPath(diskSpec.file, paths);
  const screen = vnc?.service ? { vnc: `${vnc.host}:${vnc.service}`, display: `:${Number(vnc.service) - 5900}` } : { gtk: true };
  const result = { vm: vm.name, pid: r.pid, iso, disk, firmware: vm.firmware, screen, argv };
  ctx.out.result(result, () =>
    [
      `${vm.name}: installing from ${iso} onto ${disk} (pid ${r.pid}, ${vm.firmware === 'uefi' ? 'UEFI' : 'BIOS'})`,
      vnc?.service
        ? `  screen: VNC on ${vnc.host}:${vnc.service} — e.g. vncviewer ${vnc.host}::${vnc.service} (through ssh -L ${vnc.service}:127.0.0.1:${vnc.service} from another machine)`
        : '  screen: a GTK window',
      `  when the installer is done and the VM is off: npx tsx tasks.ts boot ${vm.name} (from the disk)`,
    ].join('\n'),
  );
}
