#!/usr/bin/env bash
# Puts Prometheus' promtool into the kit's cache without installing anything: Debian's
# `prometheus` package downloaded with apt-get and unpacked with dpkg -x (installing it would
# also start a Prometheus server).  The tests check /metrics with `promtool check metrics`.
# Idempotent; prints promtool's path.
#   bash scripts/unpack-promtool.sh [--quiet]
set -euo pipefail
quiet=false
[ "${1:-}" = --quiet ] && quiet=true
cache="${GRAINCHART_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/grainchart}"
root="$cache/tools/prometheus"
bin="$root/usr/bin/promtool"
if "$bin" --version >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi
$quiet || echo "unpack-promtool: Debian's prometheus package into $root" >&2
work="$cache/tools/.prometheus.work"
rm -rf "$work" && mkdir -p "$work"
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root prometheus)
rm -rf "$root.new" && mkdir -p "$root.new"
dpkg -x "$work"/prometheus_*.deb "$root.new"
"$root.new/usr/bin/promtool" --version >/dev/null
rm -rf "$root" && mv "$root.new" "$root" && rm -rf "$work"
echo "$bin"
