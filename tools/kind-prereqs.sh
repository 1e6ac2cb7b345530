#!/usr/bin/env bash
# The Debian packages the kind path needs on the host, installed with apt (root). Everything else
# is built from the Go module proxy (tools/build.sh) or debootstrapped from Debian (tools/kind-images.sh).
#
#   docker.io          dockerd 20.10 (+ containerd 1.6, runc): the engine the kind nodes run in
#   runc               Debian's runc 1.1.5, which nvcf-runc wraps on the host (also a docker.io dependency)
#   debootstrap        the Debian root filesystems of the node image and of the userland images
#   (the linter)       shellcheck, for the scripts' lint as tests/kind runs it
#
# Inside the node image, debootstrap adds runc, containernetworking-plugins, systemd, iptables and
# the rest (tools/kind-images.sh NODE_PACKAGES): they are not needed on the host.
# Go >= 1.26 is a prerequisite of the project as a whole (not a Debian package: bookworm has 1.19).
set -euo pipefail

PACKAGES=(docker.io runc debootstrap shellcheck)

[ "$(id -u)" = 0 ] || { echo "kind-prereqs.sh: run as root (apt-get install)" >&2; exit 1; }
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
go_version=$(go env GOVERSION 2>/dev/null || true)
case $go_version in
  go1.2[6-9]* | go1.[3-9][0-9]*) ;;
  *) echo "kind-prereqs.sh: Go >= 1.26 is needed on PATH (found '${go_version:-none}')" >&2; exit 1 ;;
esac
echo "kind prerequisites present: ${PACKAGES[*]}, $go_version" >&2
