#!/usr/bin/env bash
# Installs what grainchart needs on a Debian host, only what is missing.
# Idempotent and quick when all is there (it only looks), so `npm test` runs it first.
# Needs root (or sudo) only when something must be installed.
set -euo pipefail

# command → Debian package that provides it
declare -A NEED=(
  [qemu-system-x86_64]=qemu-system-x86
  [qemu-img]=qemu-utils
  [cpio]=cpio
  [mkfs.ext4]=e2fsprogs
  [dpkg-deb]=dpkg
  # cloud images: the NoCloud seed ISO; `image debian`
  [genisoimage]=genisoimage
  [mmdebstrap]=mmdebstrap
  # firmware: uefi
  [/usr/share/OVMF/OVMF_CODE_4M.fd]=ovmf
  [ss]=iproute2
  # tests only: the pipeline tests filter with jq; the report tests open HTML in Chromium;
  # the nix-config tests parse what they render with the real Nix parser
  [jq]=jq
  [chromium]=chromium
  [nix-instantiate]=nix-bin
  # tests only: libvirt-xml's domains are checked against libvirt's own schema
  [virt-xml-validate]=libvirt-clients
  [xmllint]=libxml2-utils
)

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

if [ ${#missing[@]} -eq 0 ]; then
  [ "${1:-}" = "--quiet" ] || echo "setup-host: everything needed is installed"
  exit 0
fi

mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "setup-host: installing ${pkgs[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup-host: need root to install ${pkgs[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: QEMU's recommends pull in ~150 desktop/audio packages we never use.
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "setup-host: done"
