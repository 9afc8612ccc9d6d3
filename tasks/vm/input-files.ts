// The files of this host a spec names for a VM to boot from — its disk's backing image, a
// kernel and initramfs, an ISO, a cloud image — checked before a boot or `disk-create` writes
// anything: a folder, a missing or unreadable file is the spec's mistake (exit 2, the field
// named), not a qemu-img failure halfway through.  Every one of them is read on this host, at
// any depth (a child is handed its parent's copies: vm/inputs.ts).
import { inputFileProblem } from '../util/file-checks.ts';
import { UsageError } from '../util/errors.ts';
import { expandPath, kitPaths } from '../util/paths.ts';
import type { LabResolved, VmPlace } from '../spec/tree.ts';

export interface InputFile {
  /** The spec field, below the VM's place: `disk.backing`, `boot.kernel`, … */
  field: string;
  /** Where it is on this host. */
  file: string;
}

/** The host files the VM's spec names for its boot. */
export function hostInputFiles(lab: LabResolved, place: VmPlace): InputFile[] {
  const vm = place.vm;
  const paths = kitPaths(lab.name, vm.name);
  const boot = vm.boot as Record<string, unknown> | string;
  const named: Array<[string, unknown]> = [['disk.backing', vm.disk?.backing]];
  if (typeof boot === 'object') {
    const kitCloud = boot.cloudImage === 'debian' || boot.cloudImage === 'debian-nest';
    named.push(['boot.kernel', boot.kernel], ['boot.initrd', boot.initrd], ['boot.iso', boot.iso], ['boot.cloudImage', kitCloud ? undefined : boot.cloudImage]);
  }
  return named.filter((n): n is [string, string] => typeof n[1] === 'string').map(([field, file]) => ({ field, file: expandPath(file, paths) }));
}

/** Refuses (exit 2) the first of those files that cannot be read as a file, naming its field. */
export function checkHostInputFiles(lab: LabResolved, place: VmPlace, only?: (f: InputFile) => boolean): void {
  for (const f of hostInputFiles(lab, place).filter(only ?? (() => true))) {
    const problem = inputFileProblem(f.file);
    if (problem) throw new UsageError(`${place.path}.${f.field}: ${f.file} ${problem}`, 'fix the path in the spec: it names a file on this host');
  }
}
