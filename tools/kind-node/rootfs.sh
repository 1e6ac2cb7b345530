#!/usr/bin/env bash
# rootfs.sh NAME OUT PACKAGE...: a Debian root filesystem (debootstrap --variant=minbase) with the
# given packages, written to OUT (a directory; replaced only once complete). Docs, man pages,
# locales and apt's caches are removed: they only make every image and every node bigger.
#
# Environment: DEBIAN_SUITE (bookworm), DEBIAN_MIRROR (http://deb.debian.org/debian),
# DEBOOTSTRAP_CACHE (a directory of downloaded .debs shared between runs).
set -euo pipefail

name=$1 out=$2; shift 2
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" = 0 ] || { echo "rootfs.sh: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "rootfs.sh: debootstrap is missing: bash tools/kind-prereqs.sh" >&2; exit 1; }

tmp="$out.tmp"
rm -rf "$tmp"
include=$(IFS=,; echo "$*")
args=(--variant=minbase --include="$include")
if [ -n "${DEBOOTSTRAP_CACHE:-}" ]; then
  mkdir -p "$DEBOOTSTRAP_CACHE"
  args+=(--cache-dir="$DEBOOTSTRAP_CACHE")
fi
echo "[rootfs] debootstrap $suite ($name): $include" >&2
debootstrap "${args[@]}" "$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1 || {
  echo "[rootfs] debootstrap failed; last lines of $tmp.log:" >&2; tail -n 20 "$tmp.log" >&2; exit 1; }

rm -rf "$tmp"/usr/share/doc/* "$tmp"/usr/share/man/* "$tmp"/usr/share/info/* \
  "$tmp"/var/cache/apt/*.bin "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
find "$tmp/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
# Regenerated per container; a baked-in id would be shared by every node and every pod.
: >"$tmp/etc/machine-id"
rm -f "$tmp/var/lib/dbus/machine-id"
rm -f "$tmp.log"
rm -rf "$out" && mv "$tmp" "$out"
