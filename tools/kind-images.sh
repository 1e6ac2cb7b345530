#!/usr/bin/env bash
# Build the kind path's images offline, from Go-built binaries and Debian root filesystems, and
# cache each as a `docker save`-format archive under the tools cache:
#
#   bash tools/kind-images.sh node           the kind node image (control-plane images preloaded)
#   bash tools/kind-images.sh registry       CNCF distribution (bin/registry) as an image
#   bash tools/kind-images.sh mini-service   the mini-service probe (Debian python3 + its wheels)
#
# Each prints one line, `ARCHIVE TAG`, on stdout (progress goes to stderr). A second run with the
# same inputs prints the cached archive at once: the key of each archive is a hash of
# tools/versions.env and of every file that goes into it. Needs root (debootstrap, and containerd
# to preload the node image), debootstrap and the Go toolchain: bash tools/kind-prereqs.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
# shellcheck source=versions.env
source "$here/versions.env"
cache=${NVCF_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nvcf-conformance/tools}
images=$cache/kind-images
kn=$here/kind-node
mkdir -p "$images"

log() { printf '[kind-images] %s\n' "$*" >&2; }
die() { printf '[kind-images] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "building the kind images needs root (debootstrap, containerd)"

# key FILE_OR_DIR...: a short hash of the files' paths and contents (plus versions.env).
key() {
  {
    cat "$here/versions.env"
    local p
    for p in "$@"; do
      if [ -d "$p" ]; then
        # Bytecode caches come and go with whoever ran the code last: not an input.
        (cd "$p" && find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum)
      else
        sha256sum "$p"
      fi
    done
  } | sha256sum | cut -c1-16
}

# layer DIR OUT: a tarball of DIR as one image layer. Sorted, numeric owners and a fixed mtime:
# the same tree always gives the same digest, so a layer shared by images is stored once.
layer() {
  tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 --xattrs --xattrs-include='security.capability' \
    -C "$1" -cf "$2.tmp" . && mv "$2.tmp" "$2"
}

archive() { python3 "$kn/oci_archive.py" "$@" >/dev/null; }

# --- Debian root filesystems ---------------------------------------------------------------------

NODE_PACKAGES=(systemd systemd-sysv dbus iproute2 iptables procps runc containernetworking-plugins
  ca-certificates kmod)
# One userland for every image that needs more than a static binary (kube-proxy: iptables and
# conntrack; nvcf-cni: ip; mini-service: python3). Shared, it is one layer in the node and the registry.
USERLAND_PACKAGES=(iproute2 iptables conntrack python3 libstdc++6 ca-certificates)

# rootfs NAME PACKAGE...: echo the cached root filesystem directory, debootstrapping it when missing.
rootfs() {
  local name=$1; shift
  local k dir
  k=$(printf '%s\n' "$DEBIAN_SUITE" "$@" | cat - "$kn/rootfs.sh" | sha256sum | cut -c1-16)
  dir=$cache/kind-rootfs-$name-$k
  if [ ! -d "$dir" ]; then
    DEBIAN_SUITE=$DEBIAN_SUITE DEBOOTSTRAP_CACHE=$cache/debootstrap-debs bash "$kn/rootfs.sh" "$name" "$dir" "$@"
  fi
  echo "$dir"
}

# userland_layer: echo the cached layer tarball of the userland root filesystem.
userland_layer() {
  local dir out
  dir=$(rootfs userland "${USERLAND_PACKAGES[@]}")
  out=$dir.layer.tar
  [ -f "$out" ] || { log "packing the userland layer"; layer "$dir" "$out"; }
  echo "$out"
}

# --- small images from static binaries ----------------------------------------------------------

# binary_image OUT TAG LAYER_BASE DEST_IN_IMAGE SOURCE [oci_archive options...]: an image of one file
# (on top of LAYER_BASE when it is not "-").
binary_image() {
  local out=$1 tag=$2 base=$3 dest=$4 src=$5; shift 5
  local stage
  stage=$(mktemp -d "$work/stage.XXXXXX")
  install -D -m 0755 "$src" "$stage$dest"
  layer "$stage" "$stage.tar"
  local layers=()
  [ "$base" = - ] || layers+=(--layer "$base")
  layers+=(--layer "$stage.tar")
  archive --out "$out" --tag "$tag" "${layers[@]}" \
    --label "org.opencontainers.image.source=nvcf-conformance tools/kind-images.sh" "$@"
  rm -rf "$stage" "$stage.tar"
}

# --- the node image ------------------------------------------------------------------------------

build_node() {
  local v=$K8S_VERSION
  bash "$here/build.sh" k8s k8s-node etcd-node coredns containerd >&2
  local gobin
  gobin=$(go_programs)
  local k8s=$cache/kubernetes-$v node=$cache/kubernetes-node-$v ctrd=$cache/containerd-$CONTAINERD_VERSION
  local userland nodefs
  userland=$(userland_layer)
  nodefs=$(rootfs node "${NODE_PACKAGES[@]}")
  local cni_tag pause_ref
  cni_tag=$(basename "$gobin"); cni_tag=${cni_tag#kind-node-go-}
  pause_ref=registry.k8s.io/pause:$KIND_PAUSE_TAG

  log "assembling the images to preload"
  local pre=$work/preload
  mkdir -p "$pre"
  binary_image "$pre/pause.tar" "$pause_ref" - /pause "$gobin/pause" --entrypoint '["/pause"]' --user 65535:65535 \
    --label "org.opencontainers.image.description=nvcf-conformance pause (tools/kind-node/go/cmd/pause), tagged with the name kubeadm expects"
  binary_image "$pre/etcd.tar" "registry.k8s.io/etcd:$KIND_ETCD_VERSION-0" - /usr/local/bin/etcd \
    "$cache/etcd-$KIND_ETCD_VERSION/etcd"
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    binary_image "$pre/$c.tar" "registry.k8s.io/$c:v$v" - "/usr/local/bin/$c" "$k8s/$c"
  done
  binary_image "$pre/kube-proxy.tar" "registry.k8s.io/kube-proxy:v$v" "$userland" /usr/local/bin/kube-proxy \
    "$node/kube-proxy"
  binary_image "$pre/coredns.tar" "registry.k8s.io/coredns/coredns:v$COREDNS_VERSION" - /coredns \
    "$cache/coredns-$COREDNS_VERSION/coredns" --entrypoint '["/coredns"]'
  binary_image "$pre/nvcf-cni.tar" "nvcf-conformance.local/nvcf-cni:$cni_tag" "$userland" /usr/local/bin/nvcf-cni \
    "$gobin/nvcf-cni" --entrypoint '["/usr/local/bin/nvcf-cni"]'

  log "node root filesystem"
  local fs=$work/nodefs
  cp -a "$nodefs" "$fs"
  cp -a "$kn/node/." "$fs/"
  install -m 0755 "$ctrd/containerd" "$ctrd/containerd-shim-runc-v2" "$ctrd/ctr" "$fs/usr/local/bin/"
  install -m 0755 "$node/kubelet" "$node/kubeadm" "$k8s/kubectl" "$fs/usr/local/bin/"
  install -D -m 0755 "$gobin/nvcf-runc" "$fs/usr/local/sbin/nvcf-runc"
  echo "v$v" >"$fs/kind/version"
  sed -i "s|__NODE_IMAGE_TAG__|$cni_tag|; s|__PAUSE_IMAGE__|$pause_ref|" "$fs/kind/manifests/default-cni.yaml"
  sed -i "s|__PAUSE_IMAGE__|$pause_ref|" "$fs/etc/containerd/config.toml"
  local unit
  for unit in containerd kubelet; do
    ln -sf "/etc/systemd/system/$unit.service" "$fs/etc/systemd/system/multi-user.target.wants/$unit.service"
  done
  # Units that would change the host from a privileged container (global sysctls, binfmt_misc,
  # kernel modules, fstrim of the host's disks) or wait for hardware and ttys a node has not.
  for unit in systemd-sysctl.service systemd-binfmt.service systemd-modules-load.service fstrim.timer \
    apt-daily.timer apt-daily-upgrade.timer getty@tty1.service console-getty.service serial-getty@.service \
    sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount systemd-firstboot.service \
    systemd-udevd.service systemd-udev-trigger.service systemd-remount-fs.service; do
    ln -sf /dev/null "$fs/etc/systemd/system/$unit"
  done

  log "preloading the images into the node's containerd"
  preload "$fs" "$pre"/*.tar

  log "packing the node image (this copies about a gigabyte)"
  layer "$fs" "$work/node-layer.tar"
  rm -rf "$fs"
  archive --out "$out/image.tar" --tag "$tag" --layer "$work/node-layer.tar" \
    --entrypoint '["/usr/local/bin/entrypoint", "/sbin/init"]' --env container=docker --stop-signal SIGRTMIN+3 \
    --label "org.opencontainers.image.source=nvcf-conformance tools/kind-images.sh" \
    --label "io.x-k8s.kind.kubernetes-version=v$v"
}

# go_programs: echo the folder of our own node programs (pause, nvcf-runc, nvcf-cni) that
# tools/build.sh built, found through the nvcf-runc link it leaves in bin/.
go_programs() {
  bash "$here/build.sh" kind-node-go >&2
  dirname "$(readlink -f "${NVCF_BIN_DIR:-$root/bin}/nvcf-runc")"
}

# preload ROOTFS ARCHIVE...: import (and unpack) the archives into ROOTFS/var/lib/containerd with a
# containerd run on this machine just for that, in the CRI's k8s.io namespace and pinned so the
# kubelet's image GC never drops one (nothing could pull it back).
preload() {
  local fs=$1; shift
  local ctrd=$cache/containerd-$CONTAINERD_VERSION state=$work/containerd-state
  mkdir -p "$state"
  cat >"$work/preload.toml" <<TOML
version = 3
root = "$fs/var/lib/containerd"
state = "$state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images"]
[grpc]
  address = "$state/containerd.sock"
[ttrpc]
  address = "$state/containerd.sock.ttrpc"
TOML
  "$ctrd/containerd" --config "$work/preload.toml" >"$work/preload.log" 2>&1 &
  preload_pid=$!
  local i
  for i in $(seq 1 50); do
    [ -S "$state/containerd.sock" ] && "$ctrd/ctr" --address "$state/containerd.sock" version >/dev/null 2>&1 && break
    sleep 0.2
    [ "$i" = 50 ] && die "containerd for preloading did not start: $(tail -n 3 "$work/preload.log")"
  done
  local a
  for a in "$@"; do
    "$ctrd/ctr" --address "$state/containerd.sock" -n k8s.io images import --label io.cri-containerd.pinned=pinned \
      --snapshotter overlayfs "$a" >&2
  done
  kill "$preload_pid"; wait "$preload_pid" 2>/dev/null || true
  preload_pid=
  rm -rf "$state"
}

# --- registry and mini-service --------------------------------------------------------------------

build_registry() {
  bash "$here/build.sh" registry >&2
  local stage=$work/registry
  mkdir -p "$stage/etc/distribution" "$stage/var/lib/registry"
  # Auth is switched on by the container's environment (conformance/env/docker_registry.py).
  cat >"$stage/etc/distribution/config.yml" <<'YAML'
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
YAML
  install -D -m 0755 "$cache/registry-$REGISTRY_VERSION/registry" "$stage/bin/registry"
  layer "$stage" "$work/registry.tar"
  archive --out "$out/image.tar" --tag "$tag" --layer "$work/registry.tar" \
    --entrypoint '["/bin/registry", "serve", "/etc/distribution/config.yml"]' \
    --env OTEL_TRACES_EXPORTER=none --env OTEL_SDK_DISABLED=true --expose 5000/tcp \
    --label "org.opencontainers.image.source=nvcf-conformance tools/kind-images.sh (distribution v$REGISTRY_VERSION)"
}

MINI=$root/sample-charts/images/mini-service

build_mini_service() {
  local userland stage=$work/mini
  userland=$(userland_layer)
  local py=${NVCF_PIP_PYTHON:-$root/.venv/bin/python}
  [ -x "$py" ] || py=python3
  mkdir -p "$stage/opt/mini-service/deps"
  # The wheels for the image's Python (Debian bookworm's 3.11), whatever Python runs this script.
  "$py" -m pip install --quiet --disable-pip-version-check --no-compile --only-binary=:all: \
    --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp \
    --target "$stage/opt/mini-service/deps" -r "$MINI/requirements.txt" >&2
  cp -a "$MINI/mini_service" "$stage/opt/mini-service/"
  find "$stage" -name __pycache__ -prune -exec rm -rf {} +
  # The image contract of sample-charts/images/mini-service/Dockerfile (python:3.11-slim): `python`
  # is on PATH. The charts' one-shot pods (Jobs, CronJobs, hooks) run `python -c ...`.
  mkdir -p "$stage/usr/local/bin"
  ln -s /usr/bin/python3 "$stage/usr/local/bin/python"
  layer "$stage" "$work/mini.tar"
  archive --out "$out/image.tar" --tag "$tag" --layer "$userland" --layer "$work/mini.tar" \
    --entrypoint '["python", "-m", "mini_service"]' --user 65532:65532 --workdir /opt/mini-service \
    --env PYTHONPATH=/opt/mini-service:/opt/mini-service/deps --env PYTHONDONTWRITEBYTECODE=1 \
    --env PYTHONUNBUFFERED=1 --expose 8000/tcp --expose 8001/tcp \
    --label "org.opencontainers.image.source=nvcf-conformance sample-charts/images/mini-service"
}

# --- main ----------------------------------------------------------------------------------------

what=${1:-}
case $what in
  node)
    k=$(key "$0" "$kn")
    tag=nvcf-conformance.local/kind-node:v$K8S_VERSION-$k ;;
  registry)
    k=$(key "$0" "$kn/oci_archive.py")
    tag=nvcf-conformance.local/registry:$REGISTRY_VERSION-$k ;;
  mini-service)
    k=$(key "$0" "$kn/oci_archive.py" "$kn/rootfs.sh" "$MINI/requirements.txt" "$MINI/mini_service")
    # The tag the sample charts run (conformance/charts/naming.py PROBE_REPOSITORY:PROBE_TAG).
    tag=nvcf-conformance/mini-service:0.1.0 ;;
  *) die "usage: tools/kind-images.sh node|registry|mini-service" ;;
esac
out=$images/$what-$k
if [ ! -f "$out/image.tar" ]; then
  work=$(mktemp -d "$images/.work-$what.XXXXXX")
  preload_pid=
  # A failed or interrupted build leaves neither its work folder nor the preloading containerd.
  cleanup() {
    if [ -n "$preload_pid" ]; then kill "$preload_pid" 2>/dev/null || true; wait "$preload_pid" 2>/dev/null || true; fi
    rm -rf "$work"
  }
  trap cleanup EXIT
  mkdir -p "$out"
  start=$(date +%s)
  log "building the $what image ($tag)"
  case $what in
    node) build_node ;; registry) build_registry ;; mini-service) build_mini_service ;;
  esac
  echo "$tag" >"$out/tag"
  log "$what image ready in $(($(date +%s) - start)) s: $out/image.tar"
  # Superseded archives of this image (older keys) only take space: a node image is 1.6 GB.
  find "$images" -mindepth 1 -maxdepth 1 -name "$what-*" ! -name "$what-$k" -exec rm -rf {} +
  cleanup
  trap - EXIT
fi
echo "$out/image.tar $(cat "$out/tag")"
