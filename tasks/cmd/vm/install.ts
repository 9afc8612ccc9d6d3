// `install VM --iso FILE`: boot the VM with its disk and an installer ISO — the CD first,
// once, then the disk — with a screen: a GTK window where there is a display, else VNC on
// 127.0.0.1 (the port is printed).  After the installer powers off, `boot VM` starts the
// installed system from the disk.
import { explainRefusal } from '../../qemu/refusal.ts';
import { withLabLock } from '../../lab/lock.ts';
import type { LabResolved, VmPlace, VmResolved } from '../../spec/tree.ts';
import { existsSync, mkdirSync, chmodSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TaskContext } from '../../cli/registry.ts';
import { TaskError, UsageError } from '../../util/errors.ts';
import { loadVm } from '../../spec/load.ts';
import { expandPath, kitPaths } from '../../util/paths.ts';
import { probeHost } from '../../qemu/host-probe.ts';
import { chooseAccel, qemuPlan } from '../../qemu/args.ts';
import { forwardsOf, libvirtUri } from '../../spec/tree.ts';
import { writeState } from '../../machine/record.ts';
import { createDisk } from '../../qemu/disk-image.ts';
import { prepareFirmware } from '../../qemu/firmware.ts';
import { qmpOnce, type QmpStatus } from '../../qemu/qmp.ts';
import { labKeys } from '../../ssh/keys.ts';
import { stopQemu } from '../../vm/stop.ts';
import { vmStatus } from '../../vm/status.ts';
import { hostMachine } from '../../machine/host.ts';

export async function install(ctx: TaskContext): Promise<void> {
  const { lab, place } = await loadVm(ctx.args[0]!, { spec: ctx.spec, lab: ctx.opts.lab as string | undefined });
  const vm = place.vm;
  const isoOpt = ctx.opts.iso;
  if (typeof isoOpt !== 'string' || !isoOpt) throw new UsageError('install needs --iso FILE, the installer image');
  const iso = resolve(isoOpt);
  if (!existsSync(iso)) throw new UsageError(`--iso: ${iso} does not exist`);
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

async function installLocked(ctx: TaskContext, lab: LabResolved, place: VmPlace, iso: string, diskSpec: NonNullable<VmResolved['disk']>): Promise<void> {
  const vm = place.vm;
  const paths = kitPaths(lab.name, vm.name);
  const machine = hostMachine;
  const ref = machine.ref(lab, place);
  const live = await vmStatus(machine, lab, place);
  if (live.state === 'running' || live.state === 'booting')
    throw new TaskError(`${vm.name} is already ${live.state} (pid ${live.pid})`, { hint: `stop it first: npx tsx tasks.ts stop ${vm.name}` });
  const forwards = forwardsOf(vm);
  const taken = (await machine.probe(forwards)).taken[0];
  if (taken)
    throw new TaskError(`port ${taken.forward.bind}:${taken.forward.host} is taken${taken.holder ? ` by ${taken.holder}` : ''}; not starting QEMU`, {
      hint: 'stop what holds it, or change network.sshPort/forwards in the spec',
    });
  const probe = await probeHost();
  if (!probe.qemu.path) throw new TaskError('qemu-system-x86_64 is not installed', { hint: 'bash scripts/setup-host.sh' });

  mkdirSync(paths.vm.dir, { recursive: true, mode: 0o700 });
  chmodSync(paths.vm.dir, 0o700);
  const disk = expandPath(diskSpec.file, paths);
  if (!existsSync(disk)) {
    await createDisk(disk, { format: diskSpec.format, size: diskSpec.size, backing: diskSpec.backing ? expandPath(diskSpec.backing, paths) : undefined });
    ctx.out.info(`created ${disk}`);
  }
  await prepareFirmware(vm, paths);
  // An installer needs a screen: the spec's GTK window when this session has a display, else VNC.
  const hasDisplay = !!(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
  const display = vm.display === 'gtk' && hasDisplay ? 'gtk' : 'vnc';
  const plan = qemuPlan({ ...vm, boot: { iso }, display }, probe.kvm, { ...paths, authorizedKey: labKeys(lab.name).publicKey }).map((s) =>
    s.section === 'boot' ? { ...s, args: ['-boot', 'order=c,once=d'], note: 'the installer CD first, once; after its reboot, the disk' } : s,
  );
  const args = plan.flatMap((s) => s.args);
  const started = Date.now();
  await machine.prepare(ref);
  const launched = await machine.start(ref, args);
  if (launched.code !== 0) {
    await machine.cleanRuntime(ref);
    const why = explainRefusal(launched.stderr, chooseAccel(vm, probe.kvm).accel, probe.kvm, vm.name);
    throw new TaskError(why.message, { command: launched.command, exitCode: launched.code, stderr: launched.stderr, hint: why.hint });
  }
  const pid = launched.pid;
  // QEMU is up when QMP says so; then ask it where VNC listens.
  let status: QmpStatus | undefined;
  for (let i = 0; i < 50 && status?.status !== 'running'; i++) {
    status = await qmpOnce<QmpStatus>(paths.vm.qmp, 'query-status', undefined, 1000).catch(() => undefined);
    if (status?.status !== 'running') await new Promise((r) => setTimeout(r, 200));
  }
  if (status?.status !== 'running') {
    await stopQemu(machine, ref, pid, { graceful: false });
    throw new TaskError(`${vm.name}: QEMU started but QMP does not report it running`, { hint: 'see qemu.stderr in the VM folder' });
  }
  const vnc = display === 'vnc' ? await qmpOnce<{ enabled: boolean; host?: string; service?: string }>(paths.vm.qmp, 'query-vnc') : undefined;
  writeState(paths.vm, {
    lab: lab.name,
    vm: vm.name,
    phase: 'running',
    pid,
    startedAt: new Date(started).toISOString(),
    accel: chooseAccel(vm, probe.kvm).accel,
    argv: [probe.qemu.path, ...args],
    forwards,
  });
  const screen = vnc?.service ? { vnc: `${vnc.host}:${vnc.service}`, display: `:${Number(vnc.service) - 5900}` } : { gtk: true };
  const result = { vm: vm.name, pid, iso, disk, firmware: vm.firmware, screen, argv: [probe.qemu.path, ...args] };
  ctx.out.result(result, () =>
    [
      `${vm.name}: installing from ${iso} onto ${disk} (pid ${pid}, ${vm.firmware === 'uefi' ? 'UEFI' : 'BIOS'})`,
      vnc?.service
        ? `  screen: VNC on ${vnc.host}:${vnc.service} — e.g. vncviewer ${vnc.host}::${vnc.service} (through ssh -L ${vnc.service}:127.0.0.1:${vnc.service} from another machine)`
        : '  screen: a GTK window',
      `  when the installer is done and the VM is off: npx tsx tasks.ts boot ${vm.name} (from the disk)`,
    ].join('\n'),
  );
}
