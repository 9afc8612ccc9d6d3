#!/usr/bin/env bash
# Puts a second QEMU beside the system's without installing it: Debian's QEMU 10.0 from
# bookworm-backports (qemu-system-x86 and its modules, qemu-system-data, qemu-utils, seabios), downloaded with
# apt-get into a throwaway package list and unpacked with dpkg -x into the kit's cache.  Nothing
# on the system changes.  The kit runs it with its own firmware and modules folders
# (tasks/qemu/which.ts): GRAINCHART_QEMU=<printed path>, or host.qemu in a spec.
# Idempotent: an unpacked tree that answers --version is kept.  Prints the qemu-system-x86_64 path.
#   bash scripts/unpack-qemu.sh [--quiet]
set -euo pipefail
quiet=false
[ "${1:-}" = --quiet ] && quiet=true
cache="${GRAINCHART_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/grainchart}"
suite=bookworm-backports
root="$cache/qemu/$suite"
bin="$root/usr/bin/qemu-system-x86_64"
if "$bin" --version >/dev/null 2>&1 && [ -x "$root/usr/bin/qemu-img" ] && [ -e "$root/usr/lib/x86_64-linux-gnu/qemu/ui-opengl.so" ]; then
  echo "$bin"
  exit 0
fi
$quiet || echo "unpack-qemu: QEMU from $suite into $root" >&2
work="$cache/qemu/.$suite.work"
rm -rf "$work" && mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/debs"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$keyring] http://deb.debian.org/debian $suite main" >"$work/sources.list"
apt=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work" -o APT::Sandbox::User=root)
apt-get "${apt[@]}" update -qq
# TCG is built into QEMU 10 (no module needed); seabios 1.16 is what its q35 boots.  The
# OpenGL and spice modules too (their own packages since 10.0): QEMU looks for a module in its
# own folder, then in the system's, and a 7.2 module of the same name there makes it abort
# (util/module.c: "Assertion `QTAILQ_EMPTY(&dso_init_list)' failed", as libvirt's probe of it
# lists every type).
(cd "$work/debs" && apt-get "${apt[@]}" download -qq \
  "qemu-system-x86/$suite" "qemu-system-common/$suite" "qemu-system-data/$suite" "qemu-utils/$suite" "seabios/$suite" \
  "qemu-system-modules-opengl/$suite" "qemu-system-modules-spice/$suite")
rm -rf "$root.new" && mkdir -p "$root.new"
for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$root.new"; done
"$root.new/usr/bin/qemu-system-x86_64" --version >/dev/null
rm -rf "$root" && mv "$root.new" "$root" && rm -rf "$work"
$quiet || "$bin" --version | head -1 >&2
echo "$bin"
