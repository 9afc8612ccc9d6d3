// UEFI VMs need their own writable copy of OVMF's variable store before QEMU starts.
import { chmodSync, existsSync } from 'node:fs';
import { UsageError } from '../util/errors.ts';
import { runQemuTool } from './which.ts';
import type { KitPaths } from '../util/paths.ts';
import { efiVars, OVMF_CODE, OVMF_VARS_TEMPLATE } from './args.ts';
import type { VmResolved } from '../spec/tree.ts';

export async function prepareFirmware(vm: VmResolved, paths: KitPaths): Promise<void> {
  if (vm.firmware !== 'uefi') return;
  for (const f of [OVMF_CODE, OVMF_VARS_TEMPLATE])
    if (!existsSync(f)) throw new UsageError(`${vm.name}: firmware uefi needs ${f}`, 'install Debian’s ovmf package: bash scripts/setup-host.sh --full');
  const vars = efiVars(paths);
  if (!existsSync(vars)) {
    // qcow2, not a raw copy: savevm refuses writable drives that cannot hold snapshots.
    await runQemuTool(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', OVMF_VARS_TEMPLATE, vars]);
    chmodSync(vars, 0o600);
  }
}
