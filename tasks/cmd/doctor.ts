// `doctor`: what this host can run, each line OK/WARN/FAIL with a hint.  Exits 1 on FAIL.
import type { TaskContext } from '../cli/registry.ts';
import { probeHost, type HostProbe } from '../qemu/host-probe.ts';
import { stateRoot } from '../util/paths.ts';
import { formatBytes, GiB, MiB } from '../spec/size.ts';
import { TaskError } from '../util/errors.ts';
import { probeLibvirt, type LibvirtProbe } from '../machine/libvirt/probe.ts';
import { POOL } from '../machine/libvirt/pool.ts';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Check {
  status: 'OK' | 'WARN' | 'FAIL';
  name: string;
  detail: string;
  hint?: string;
}

/** TCG as the binary itself lists it (`-accel help`): built in (QEMU 10) or a module (Debian's 7.2) alike. */
function tcgCheck(p: HostProbe): Check {
  const which = p.install.from === 'PATH' ? 'the QEMU on PATH' : `${p.install.from}'s QEMU`;
  if (!p.accels) return { status: 'WARN', name: 'tcg', detail: `${which} did not answer -accel help: whether it can emulate without KVM is unknown` };
  if (p.accels.includes('tcg')) return { status: 'OK', name: 'tcg', detail: `${which} lists ${p.accels.join(', ')}` };
  return {
    status: 'FAIL',
    name: 'tcg',
    detail: `${which} lists no tcg (only ${p.accels.join(', ') || 'nothing'}): it cannot run guests without KVM`,
    hint: p.install.from === 'PATH' ? 'reinstall qemu-system-x86 (Debian builds TCG as a module)' : 'give it its modules folder, or pick another QEMU',
  };
}

/** Pure: the probe → the report's lines. */
export function doctorChecks(p: HostProbe): Check[] {
  const checks: Check[] = [];
  const tool = (name: string, t: HostProbe['qemu'], pkg: string) =>
    checks.push(
      t.version
        ? { status: 'OK', name, detail: `${t.version} (${t.path}${p.install.from === 'PATH' ? '' : `, from ${p.install.from}`})` }
        : {
            status: 'FAIL',
            name,
            detail: t.error ?? 'not found',
            hint:
              p.install.from === 'PATH'
                ? `apt-get install ${pkg} (or bash scripts/setup-host.sh)`
                : `${p.install.from} names ${p.install.system}: give the path of a qemu-system-x86_64`,
          },
    );
  tool('qemu-system-x86_64', p.qemu, 'qemu-system-x86');
  tool('qemu-img', p.qemuImg, 'qemu-utils');
  if (p.qemu.version) checks.push(tcgCheck(p));
  const kvm = p.kvm;
  if (kvm.state === 'usable') {
    checks.push({ status: 'OK', name: 'kvm', detail: `usable: ${kvm.reason}` });
    checks.push(
      kvm.nested
        ? { status: 'OK', name: 'nested', detail: `kvm_${kvm.vendor} nested=on: guests can run KVM guests` }
        : {
            status: 'WARN',
            name: 'nested',
            detail: `kvm_${kvm.vendor} nested=off: children fall back to TCG`,
            hint: `modprobe -r kvm_${kvm.vendor} && modprobe kvm_${kvm.vendor} nested=1`,
          },
    );
  } else {
    checks.push({ status: 'WARN', name: 'kvm', detail: `${kvm.state}: ${kvm.reason}; guests use TCG (-cpu max)`, hint: kvm.hint });
    checks.push({ status: 'OK', name: 'nested', detail: 'TCG with -cpu max exposes svm: a child can use KVM inside its parent' });
  }
  checks.push({ status: 'OK', name: 'cpus', detail: String(p.cpus) });
  checks.push(
    p.memoryMiB >= 2048
      ? { status: 'OK', name: 'memory', detail: `${formatBytes(p.memoryMiB * MiB)} (${formatBytes(p.freeMemoryMiB * MiB)} free)` }
      : { status: 'WARN', name: 'memory', detail: `${formatBytes(p.memoryMiB * MiB)}: the demo lab wants 2 GiB`, hint: 'shrink the VMs’ memory in the spec' },
  );
  if (p.freeDiskBytes === undefined) checks.push({ status: 'WARN', name: 'disk', detail: 'free space unknown' });
  else
    checks.push(
      p.freeDiskBytes >= 2 * GiB
        ? { status: 'OK', name: 'disk', detail: `${formatBytes(p.freeDiskBytes)} free for state` }
        : { status: 'WARN', name: 'disk', detail: `only ${formatBytes(p.freeDiskBytes)} free for state`, hint: 'set GRAINCHART_HOME to a roomier folder' },
    );
  return checks;
}

/** Pure: libvirt's probe → its lines.  libvirt is optional (a lab asks for it), so nothing here fails. */
export function libvirtChecks(l: LibvirtProbe): Check[] {
  const hint = 'bash scripts/setup-host.sh --libvirt (needed only by labs with host.libvirt or vms[].libvirt)';
  if (!l.daemon) return [{ status: 'WARN', name: 'libvirt', detail: l.virsh ? `does not answer at ${l.uri}: ${l.error}` : 'not installed', hint }];
  const checks: Check[] = [
    {
      status: 'OK',
      name: 'libvirt',
      detail: `${l.daemon} answers at ${l.uri}${l.hypervisor ? ` (${l.hypervisor})` : ''}; pool ${POOL}: ${l.pool ?? 'made at the first boot'}`,
    },
  ];
  if (l.kvmRootOnly)
    checks.push({
      status: 'WARN',
      name: 'libvirt kvm',
      detail: '/dev/kvm is root’s alone: libvirt 9.0 then probes QEMU again at every call, and virsh define never returns',
      hint,
    });
  return checks;
}

export function renderChecks(checks: Check[]): string {
  const w = Math.max(...checks.map((c) => c.name.length));
  return checks.map((c) => `${c.status.padEnd(4)} ${c.name.padEnd(w)}  ${c.detail}${c.hint ? `\n     ${''.padEnd(w)}  hint: ${c.hint}` : ''}`).join('\n');
}

export async function run(ctx: TaskContext): Promise<void> {
  let root = stateRoot();
  while (!existsSync(root)) root = dirname(root);
  const probe = await probeHost({ diskPath: root });
  const libvirt = await probeLibvirt();
  const checks = [...doctorChecks(probe), ...libvirtChecks(libvirt)];
  ctx.out.result({ checks, probe, libvirt }, () => renderChecks(checks));
  const failed = checks.filter((c) => c.status === 'FAIL');
  if (failed.length) throw new TaskError(`doctor: ${failed.map((c) => c.name).join(', ')} failed`, { hint: failed[0]!.hint });
}
