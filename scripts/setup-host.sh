#!/usr/bin/env bash
# Installs from Debian what grainchart needs on this host, only what is missing, with
# apt-get (as root, or through sudo).  Idempotent and quick when all is there (it only looks).
#   (no flag)  what the main job needs: QEMU, qemu-img, and the tools that build the
#              kit's tiny guest image from Debian packages — `demo` runs this first
#   --full     also what other kinds of lab need: cloud images (genisoimage makes their
#              seed), `image debian` (mmdebstrap), UEFI firmware (ovmf)
#   --libvirt  also libvirt's daemon with its QEMU driver (a lab with host.libvirt or
#              vms[].libvirt), and start virtlogd and libvirtd where they do not run and
#              there is no systemd to start them
#   --tests    also what only the kit's own tests use (implies --full), and QEMU 10.0
#              unpacked into the kit's cache (scripts/unpack-qemu.sh); `npm test` runs
#              this with --libvirt
#   --quiet    say nothing when all is there
set -euo pipefail
quiet=false full=false libvirt=false tests=false
for arg in "$@"; do
  case $arg in
    --quiet) quiet=true ;;
    --full) full=true ;;
    --libvirt) libvirt=true ;;
    --tests) tests=true full=true ;;
    *) echo "setup-host: unknown option $arg (use --full, --libvirt, --tests, --quiet)" >&2; exit 2 ;;
  esac
done

# command → Debian package that provides it
declare -A NEED=(
  [qemu-system-x86_64]=qemu-system-x86
  [qemu-img]=qemu-utils
  # the tiny image: an initramfs (cpio) and an ext4 root disk from Debian's .debs
  [cpio]=cpio
  [mkfs.ext4]=e2fsprogs
  [dpkg-deb]=dpkg
  # naming the process that holds a port a forward wants
  [ss]=iproute2
)
if $full; then
  NEED[genisoimage]=genisoimage
  NEED[mmdebstrap]=mmdebstrap
  NEED[/usr/share/OVMF/OVMF_CODE_4M.fd]=ovmf
fi
if $tests; then
  # the pipeline tests filter with jq; the report tests open HTML in Chromium; the
  # nix-config tests parse what they render with the real Nix parser; libvirt-xml's
  # domains are checked against libvirt's own schema
  NEED[jq]=jq
  NEED[chromium]=chromium
  NEED[nix-instantiate]=nix-bin
  NEED[virt-xml-validate]=libvirt-clients
  NEED[xmllint]=libxml2-utils
fi
if $libvirt; then
  NEED[libvirtd]=libvirt-daemon-system
  NEED[virsh]=libvirt-clients
  # A recommend of libvirt-daemon, so --no-install-recommends would leave it out.
  NEED[/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so]=libvirt-daemon-driver-qemu
  # qemu+ssh:// connections: virsh's transport runs ssh; the tests start an sshd of their own
  # on a loopback port to be the "remote" server.
  NEED[ssh]=openssh-client
  NEED[/usr/sbin/sshd]=openssh-server
fi

# libvirt's daemons, started once installed: by systemd where it runs, else by hand (-d
# daemonizes; each writes its pidfile in /run, which is how a running one is known).
start_libvirt() {
  $libvirt || return 0
  # /dev/kvm as Debian's udev rule makes it (root:kvm 0660; libvirt-qemu is in kvm).  Without
  # udev it stays root-only, and libvirt 9.0 then finds KVM in every probe of QEMU it makes
  # as root but not for its QEMU user, drops the probe as stale, and probes again, forever:
  # `virsh define` never returns (measured here).
  if [ -c /dev/kvm ] && getent group kvm >/dev/null && [ "$(stat -c %G /dev/kvm)" = root ]; then
    $quiet || echo "setup-host: /dev/kvm to group kvm, mode 0660 (as udev would)"
    $SUDO chgrp kvm /dev/kvm && $SUDO chmod 0660 /dev/kvm
  fi
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl start virtlogd libvirtd
  else
    for d in virtlogd libvirtd; do
      pid=$(cat "/run/$d.pid" 2>/dev/null || true)
      if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then continue; fi
      $quiet || echo "setup-host: starting $d"
      $SUDO "$d" -d
    done
  fi
  for _ in $(seq 1 50); do
    [ -S /run/libvirt/libvirt-sock ] && return 0
    sleep 0.2
  done
  echo "setup-host: libvirtd did not open /run/libvirt/libvirt-sock within 10 s" >&2
  exit 1
}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
for cmd in "${!NEED[@]}"; do
  # A command on PATH, or (for data packages such as ovmf) a file that must exist.
  if [[ $cmd == /* ]]; then [ -e "$cmd" ] || missing+=("${NEED[$cmd]}")
  else command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}"); fi
done
# Debian builds QEMU's TCG accelerator as a module; without it no guest runs on a host without KVM.
if command -v qemu-system-x86_64 >/dev/null 2>&1 && [ -d /usr/lib/x86_64-linux-gnu/qemu ] \
   && ! ls /usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so >/dev/null 2>&1; then
  missing+=(qemu-system-x86)
fi

# The tests run the demo lab on a second QEMU too (10.0 from bookworm-backports), unpacked
# into the kit's cache beside the system's (scripts/unpack-qemu.sh), and check /metrics with
# Prometheus' promtool, unpacked the same way (scripts/unpack-promtool.sh): nothing is installed.
second_qemu() {
  $tests || return 0
  bash "$(dirname "$0")/unpack-qemu.sh" --quiet >/dev/null
  bash "$(dirname "$0")/unpack-promtool.sh" --quiet >/dev/null
}

if [ ${#missing[@]} -eq 0 ]; then
  $quiet || echo "setup-host: everything needed is installed"
  start_libvirt
  second_qemu
  exit 0
fi

mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "setup-host: installing ${pkgs[*]}"
if [ -n "$SUDO" ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup-host: need root to install ${pkgs[*]}" >&2; exit 1; }
fi
export DEBIAN_FRONTEND=noninteractive
# openssh-server's install would start Debian's sshd on every address at port 22; the kit only
# wants the binary (its tests run their own on 127.0.0.1).  A policy-rc.d that forbids every
# start (exit 101) is Debian's way to say so, for the install only.
if printf '%s\n' "${pkgs[@]}" | grep -qx openssh-server && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
# --no-install-recommends: QEMU's recommends pull in ~150 desktop/audio packages we never use.
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "setup-host: done"
start_libvirt
second_qemu
