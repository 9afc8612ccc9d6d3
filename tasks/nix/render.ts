// tasks/nix/: a VM's spec as a NixOS configuration.
//
// A VM's spec → its NixOS configuration.nix.  Pure: the same spec gives the same file, so
// the committed nix/ files can be held to a fresh render.  The lab's public key is read
// from a file beside it (./lab_ed25519.pub, written by `nix-config`), never pasted in, so
// the file is the same on every machine.
import type { VmResolved } from '../spec/tree.ts';

export const KEY_FILE = 'lab_ed25519.pub';

/** A Nix string literal: quotes, backslashes and `${` escaped. */
export function nixString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$\{/g, '\\${').replace(/\n/g, '\\n')}"`;
}

/** Text in a `#` comment: a spec refuses line breaks in titles, and a render never trusts that alone. */
const comment = (s: string) => s.replace(/[\r\n\u2028\u2029]+/g, ' ');

/** Attribute names that are not plain identifiers are quoted. */
const attr = (name: string) => (/^[A-Za-z_][A-Za-z0-9_'-]*$/.test(name) ? name : nixString(name));
const list = (items: string[]) => `[ ${items.join(' ')} ]`;

/** The Sway block: the compositor and the tools it names. */
const SWAY_PACKAGES = ['swaylock', 'swayidle', 'wl-clipboard', 'mako', 'alacritty', 'dmenu', 'waybar'];

export function renderConfiguration(vm: VmResolved, lab: string): string {
  const n = vm.nixos;
  if (!n) throw new Error(`${vm.name} has no nixos block`);
  const user = vm.ssh.user;
  const nests = vm.children.length > 0;
  const lines: string[] = [];
  const push = (...l: string[]) => lines.push(...l);
  push(
    `# ${comment(vm.title ?? vm.name)}: rendered by \`npx tsx tasks.ts nix-config ${vm.name}\` from lab ${lab}; edit the spec, not this file.`,
    '#',
    `# Use: copy this folder (configuration.nix and ${KEY_FILE}) to /etc/nixos/ in the VM,`,
    '# then nixos-rebuild switch.  hardware-configuration.nix is made inside the VM (the',
    '# installer writes it; or nixos-generate-config --show-hardware-config > hardware-configuration.nix)',
    '# and imported when it is there.',
    '{ config, lib, pkgs, ... }:',
    '',
    '{',
    '  imports = lib.optional (builtins.pathExists ./hardware-configuration.nix) ./hardware-configuration.nix;',
    '',
  );
  if (n.bootloader === 'systemd-boot')
    push('  # Bootloader: systemd-boot on EFI', '  boot.loader.systemd-boot.enable = true;', '  boot.loader.efi.canTouchEfiVariables = true;');
  else push('  # Bootloader: GRUB on the BIOS disk', '  boot.loader.grub.enable = true;', `  boot.loader.grub.device = ${nixString(n.grubDevice)};`);
  push('', '  # Networking', `  networking.hostName = ${nixString(vm.name)};`);
  if (n.networkmanager) push('  networking.networkmanager.enable = true;');
  if (n.timeZone) push(`  time.timeZone = ${nixString(n.timeZone)};`);
  if (nests) {
    const kids = vm.children.map((c) => c.name).join(', ');
    push(
      '',
      `  # Nested virtualization: this VM runs ${kids}`,
      `  boot.kernelModules = ${list(['"kvm-intel"', '"kvm-amd"'])};`,
      "  boot.extraModprobeConfig = ''",
      '    options kvm_intel nested=1',
      '    options kvm_amd nested=1',
      "  '';",
      '  virtualisation.libvirtd.enable = true;',
    );
  }
  if (n.desktop === 'sway')
    push(
      '',
      '  # Sway (Wayland compositor)',
      '  programs.sway = {',
      '    enable = true;',
      '    wrapperFeatures.gtk = true;',
      `    extraPackages = with pkgs; ${list(SWAY_PACKAGES)};`,
      '  };',
    );
  const packages = [...(nests ? ['qemu_kvm', 'qemu-utils'] : []), ...(nests && n.desktop !== 'none' ? ['virt-manager'] : []), ...n.packages];
  if (packages.length) push('', `  environment.systemPackages = with pkgs; ${list(packages)};`);
  push(
    '',
    `  # SSH: the lab's key for ${user}, no passwords`,
    '  services.openssh = {',
    '    enable = true;',
    '    settings.PasswordAuthentication = false;',
    '    settings.KbdInteractiveAuthentication = false;',
    `    settings.PermitRootLogin = ${nixString(user === 'root' ? 'prohibit-password' : 'no')};`,
    '  };',
  );
  if (user === 'root') push(`  users.users.root.openssh.authorizedKeys.keyFiles = [ ./${KEY_FILE} ];`);
  else {
    const groups = ['"wheel"', ...(n.networkmanager ? ['"networkmanager"'] : []), ...(nests ? ['"libvirtd"', '"kvm"'] : [])];
    push(
      `  users.users.${attr(user)} = {`,
      '    isNormalUser = true;',
      `    extraGroups = ${list(groups)};`,
      `    openssh.authorizedKeys.keyFiles = [ ./${KEY_FILE} ];`,
      '  };',
      '  # Key-only logins: wheel may sudo without a password it does not have.',
      '  security.sudo.wheelNeedsPassword = false;',
    );
  }
  push('', `  system.stateVersion = ${nixString(n.stateVersion)};`, '}');
  return `${lines.join('\n')}\n`;
}
