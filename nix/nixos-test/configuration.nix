# NixOS Test: rendered by `npx tsx tasks.ts nix-config nixos-test` from lab nixos-test; edit the spec, not this file.
#
# Use: copy this folder (configuration.nix and lab_ed25519.pub) to /etc/nixos/ in the VM,
# then nixos-rebuild switch.  hardware-configuration.nix is made inside the VM (the
# installer writes it; or nixos-generate-config --show-hardware-config > hardware-configuration.nix)
# and imported when it is there.
{ config, lib, pkgs, ... }:

{
  imports = lib.optional (builtins.pathExists ./hardware-configuration.nix) ./hardware-configuration.nix;

  # Bootloader: systemd-boot on EFI
  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;

  # Networking
  networking.hostName = "nixos-test";
  networking.networkmanager.enable = true;

  # SSH: the lab's key for nixos, no passwords
  services.openssh = {
    enable = true;
    settings.PasswordAuthentication = false;
    settings.KbdInteractiveAuthentication = false;
    settings.PermitRootLogin = "no";
  };
  users.users.nixos = {
    isNormalUser = true;
    extraGroups = [ "wheel" "networkmanager" ];
    openssh.authorizedKeys.keyFiles = [ ./lab_ed25519.pub ];
  };
  # Key-only logins: wheel may sudo without a password it does not have.
  security.sudo.wheelNeedsPassword = false;

  system.stateVersion = "23.11";
}
