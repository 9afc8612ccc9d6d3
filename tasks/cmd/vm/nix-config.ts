// `nix-config VM`: nix/VM/configuration.nix from the VM's spec, and the lab's public key
// beside it (lab_ed25519.pub, which the configuration reads; not committed).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TaskContext } from '../../cli/registry.ts';
import { loadVm } from '../../spec/load.ts';
import { PROJECT_ROOT } from '../../util/paths.ts';
import { UsageError } from '../../util/errors.ts';
import { checkOutputFolder } from '../../util/file-checks.ts';
import { labKeys } from '../../ssh/keys.ts';
import { KEY_FILE, renderConfiguration } from '../../nix/render.ts';

export async function run(ctx: TaskContext): Promise<void> {
  const { lab, place } = await loadVm(ctx.args[0]!, { spec: ctx.spec, lab: ctx.opts.lab as string | undefined });
  if (!place.vm.nixos)
    throw new UsageError(
      `${place.vm.name} is not a NixOS guest: ${place.path}.nixos is not set`,
      'add nixos: { stateVersion: "24.05" } (and bootloader, desktop, packages) to the VM in the spec',
    );
  const text = renderConfiguration(place.vm, lab.name);
  const out = ctx.opts.out;
  if (out !== undefined && (typeof out !== 'string' || !out)) throw new UsageError('--out needs a folder');
  const dir = resolve(typeof out === 'string' ? out : join(PROJECT_ROOT, 'nix'), place.vm.name);
  checkOutputFolder(out === undefined ? 'the nix folder' : '--out', dir, ['configuration.nix', KEY_FILE]);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'configuration.nix');
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
  const key = join(dir, KEY_FILE);
  writeFileSync(key, `${labKeys(lab.name).publicKey}\n`);
  ctx.out.result({ vm: place.vm.name, lab: lab.name, file, keyFile: key }, `wrote ${file} (and ${KEY_FILE}, the lab's public key, beside it)`);
}
