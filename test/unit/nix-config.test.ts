// nix-config: what it renders parses with the real Nix parser (nix-instantiate --parse),
// carries the spec's choices, and the committed nix/ files are a fresh render.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveLab } from '../../tasks/spec/resolve.ts';
import { findVm, type VmResolved } from '../../tasks/spec/tree.ts';
import { readLabInput } from '../../tasks/spec/load.ts';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';
import { nixString, renderConfiguration } from '../../tasks/nix/render.ts';
import { BIG_HOST } from '../helpers/probes.ts';

const dir = mkdtempSync(join(tmpdir(), 'gc-nix-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** nix-instantiate --parse: the parsed expression, or the parser's error. */
function parse(text: string, name: string): { ok: boolean; out: string } {
  const file = join(dir, `${name}.nix`);
  writeFileSync(file, text);
  const r = spawnSync('nix-instantiate', ['--parse', file], { encoding: 'utf8' });
  if (r.error) throw new Error(`nix-instantiate is missing (bash scripts/setup-host.sh installs nix-bin): ${r.error.message}`);
  return { ok: r.status === 0, out: r.status === 0 ? r.stdout : r.stderr };
}

const vmIn = async (lab: string, vm: string) => findVm(resolveLab((await readLabInput(lab)).input, BIG_HOST, lab), vm)!.vm;
const oneVm = (vm: object): VmResolved =>
  resolveLab({ name: 't', vms: [{ name: 'n1', memory: 512, disk: { file: 'n1.qcow2', size: '8G' }, ...vm }] }, BIG_HOST, 't').vms[0]!;

describe('nix-config', () => {
  it('commits nix/nixos-sway and nix/nixos-test as fresh renders of specs/ (regenerate: npx tsx tasks.ts nix-config VM)', async () => {
    for (const [lab, vm] of [
      ['nixos-sway', 'nixos-sway'],
      ['nixos-test', 'nixos-test'],
    ] as const) {
      const fresh = renderConfiguration(await vmIn(lab, vm), lab);
      assert.equal(readFileSync(join(PROJECT_ROOT, 'nix', vm, 'configuration.nix'), 'utf8'), fresh, `nix/${vm}/configuration.nix drifted from the spec`);
      const p = parse(fresh, vm);
      assert.ok(p.ok, p.out);
    }
  });

  it('renders the seed’s choices for nixos-sway: EFI, nesting, Sway, key-only SSH, stateVersion', async () => {
    const text = renderConfiguration(await vmIn('nixos-sway', 'nixos-sway'), 'nixos-sway');
    const p = parse(text, 'sway');
    assert.ok(p.ok, p.out);
    // Checked in the parser's normalised output, so layout does not matter.
    for (const want of [
      'systemd-boot = { enable = true; }',
      'hostName = "nixos-sway"',
      'kernelModules = [ ("kvm-intel") ("kvm-amd") ]',
      'extraModprobeConfig = "options kvm_intel nested=1\\noptions kvm_amd nested=1\\n"',
      'libvirtd = { enable = true; }',
      'sway = { enable = true;',
      '(qemu_kvm) (qemu-utils)',
      'PasswordAuthentication = false',
      'keyFiles = [ (',
      'stateVersion = "23.11"',
    ])
      assert.ok(p.out.includes(want), `missing ${want}`);
  });

  it('renders GRUB, root logins, no desktop, a time zone — and parses — without nesting bits when there are no children', () => {
    const text = renderConfiguration(
      oneVm({
        ssh: { user: 'root' },
        nixos: {
          stateVersion: '24.05',
          bootloader: 'grub',
          grubDevice: '/dev/sda',
          networkmanager: false,
          timeZone: 'Europe/Berlin',
          packages: ['python3Packages.pip'],
        },
      }),
      't',
    );
    const p = parse(text, 'grub');
    assert.ok(p.ok, p.out);
    assert.ok(p.out.includes('grub = { device = "/dev/sda"; enable = true; }'));
    assert.ok(p.out.includes('users = { root = { openssh = { authorizedKeys = { keyFiles'));
    assert.ok(p.out.includes('PermitRootLogin = "prohibit-password"'));
    assert.ok(p.out.includes('timeZone = "Europe/Berlin"'));
    assert.ok(!p.out.includes('kvm-intel') && !p.out.includes('sway') && !p.out.includes('networkmanager'));
  });

  it('escapes strings: quotes, backslashes and ${ stay text', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Nix's own interpolation, which the renderer must escape
    const tricky = 'a "b" \\c ${d} e';
    const p = parse(`{ x = ${nixString(tricky)}; }`, 'str');
    assert.ok(p.ok, p.out);
    const back = spawnSync('nix-instantiate', ['--eval', '--json', '--expr', `(${readFileSync(join(dir, 'str.nix'), 'utf8')}).x`], { encoding: 'utf8' });
    assert.equal(back.status, 0, back.stderr);
    assert.equal(JSON.parse(back.stdout), tricky);
  });

  it('the parser check can fail: a broken file is refused', () => {
    assert.equal(parse('{ a = ; }', 'broken').ok, false);
  });
});
