#!/usr/bin/env bash
# Build the pinned third-party tools from the Go module proxy and link them into bin/.
#
# Why wrapper modules: k8s.io/kubernetes and go.etcd.io/etcd/server/v3 carry `replace` directives
# in their go.mod, so `go install pkg@version` refuses them. Each tool is built inside a small
# generated module that requires the pinned release (and, for Kubernetes, replaces every staging
# module with its published v0.Y.Z twin).
#
# Cache: built binaries live in $NVCF_TOOLS_CACHE/<tool>-<version>/ (default ~/.cache/nvcf-conformance)
# so a fresh clone on a warm machine links them in seconds. bin/ (git-ignored) only holds links.
# A binary already on PATH that reports exactly the pinned version is linked instead of built.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
# shellcheck source=versions.env
source "$here/versions.env"
cache=${NVCF_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nvcf-conformance/tools}
bindir=${NVCF_BIN_DIR:-$root/bin}
mkdir -p "$cache" "$bindir"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

log() { printf '[tools] %s\n' "$*" >&2; }

# link NAME PATH: point bin/NAME at PATH.
link() { ln -sfn "$2" "$bindir/$1"; }

# on_path NAME VERSION_REGEX ARGS...: echo the path of NAME on PATH if `NAME ARGS` matches.
on_path() {
  local name=$1 want=$2; shift 2
  local p
  p=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$bindir" | paste -sd:) command -v "$name" 2>/dev/null) || return 1
  "$p" "$@" 2>/dev/null | grep -qE "$want" || return 1
  echo "$p"
}

# wrapper DIR MODULE@VERSION...: a throwaway module in DIR that requires the given modules.
wrapper() {
  local dir=$1; shift
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && go mod init local/toolbuild >/dev/null 2>&1 && go mod edit -go=1.26.0)
}

build_k8s() {
  local out=$cache/kubernetes-$K8S_VERSION
  [ -x "$out/kube-apiserver" ] && [ -x "$out/kubectl" ] && return 0
  log "building Kubernetes v$K8S_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl); this takes a while on a cold cache"
  build_k8s_cmds "$cache/src-kubernetes" "$out" kube-apiserver kube-controller-manager kube-scheduler kubectl
}

# build_k8s_node: the node half of the same release (kind node image): same wrapper recipe and
# ldflags as build_k8s, in a directory of its own so either can be rebuilt without the other.
build_k8s_node() {
  local out=$cache/kubernetes-node-$K8S_VERSION
  [ -x "$out/kubelet" ] && [ -x "$out/kubeadm" ] && [ -x "$out/kube-proxy" ] && return 0
  log "building Kubernetes v$K8S_VERSION node binaries (kubelet, kubeadm, kube-proxy)"
  build_k8s_cmds "$cache/src-kubernetes-node" "$out" kubelet kubeadm kube-proxy
}

# build_k8s_cmds WRAPPER_DIR OUT CMD...: k8s.io/kubernetes/cmd/CMD at K8S_VERSION into OUT.
build_k8s_cmds() {
  local w=$1 out=$2; shift 2
  local v=$K8S_VERSION minor sv
  minor=$(echo "$v" | cut -d. -f2); sv="0.${v#1.}"
  wrapper "$w"
  local gomod
  gomod=$(cd "$w" && go mod download -json "k8s.io/kubernetes@v$v" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  local m args=() c pkgs=() pins=()
  while read -r m; do
    args+=("-replace=$m=$m@v$sv")
  done < <(sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => \./staging/.*|\1|p' "$gomod")
  for c in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); pins+=("k8s.io/kubernetes/cmd/$c@v$v"); done
  # Each package gets an explicit @version: a bare `go get pkg` means @upgrade (the newest release).
  (cd "$w" && go mod edit "${args[@]}" && go get "${pins[@]}")
  local d ldf="-s -w" p
  d=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=v$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=$d"
  done
  mkdir -p "$out.tmp"
  (cd "$w" && go build -trimpath -ldflags "$ldf" -o "$out.tmp/" "${pkgs[@]}")
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# build_simple NAME OUTDIR LDFLAGS VERSION PKG...: build packages (all of one module) into OUTDIR.
build_simple() {
  local name=$1 out=$2 ldf=$3 ver=$4; shift 4
  [ -d "$out" ] && return 0
  log "building $name $ver"
  local w=$cache/src-$name p pins=()
  for p in "$@"; do pins+=("$p@$ver"); done
  wrapper "$w"
  (cd "$w" && go get "${pins[@]}")
  mkdir -p "$out.tmp"
  (cd "$w" && go build -trimpath -ldflags "-s -w $ldf" -o "$out.tmp/" "$@")
  rm -rf "$out" && mv "$out.tmp" "$out"
}

link_k8s() {
  local n p
  for n in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    if p=$(on_path "$n" "v$K8S_VERSION([^0-9.-]|$)" --version); then link "$n" "$p"; continue; fi
    build_k8s; link "$n" "$cache/kubernetes-$K8S_VERSION/$n"
  done
}

link_etcd() {
  local p out=$cache/etcd-$ETCD_VERSION
  if p=$(on_path etcd "etcd Version: $ETCD_VERSION$" --version); then link etcd "$p"; return; fi
  build_simple etcd "$out" "" "v$ETCD_VERSION" go.etcd.io/etcd/server/v3
  # Go names a binary after the element before a /vN suffix: server/v3 builds as "server".
  [ -x "$out/etcd" ] || mv "$out/server" "$out/etcd"
  link etcd "$out/etcd"
}

link_helm() {
  local p out=$cache/helm-$HELM_VERSION
  if p=$(on_path helm "v$HELM_VERSION\b" version --short); then link helm "$p"; return; fi
  build_simple helm "$out" "-X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" \
    "v$HELM_VERSION" helm.sh/helm/v3/cmd/helm
  link helm "$out/helm"
}

link_kwok() {
  local n p out=$cache/kwok-$KWOK_VERSION
  for n in kwok kwokctl; do
    if p=$(on_path "$n" "v?$KWOK_VERSION\b" --version); then link "$n" "$p"; continue; fi
    build_simple kwok "$out" "" "v$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
    link "$n" "$out/$n"
  done
}

link_registry() {
  local out=$cache/registry-$REGISTRY_VERSION
  build_simple registry "$out" "-X github.com/distribution/distribution/v3/version.version=v$REGISTRY_VERSION" \
    "v$REGISTRY_VERSION" github.com/distribution/distribution/v3/cmd/registry
  link registry "$out/registry"
}

link_kind() {
  local p out=$cache/kind-$KIND_VERSION
  if p=$(on_path kind "v$KIND_VERSION\b" version); then link kind "$p"; return; fi
  build_simple kind "$out" "" "v$KIND_VERSION" sigs.k8s.io/kind
  link kind "$out/kind"
}

# --- node side of the kind path (tools/kind-images.sh): built only when asked for, and never
# linked into bin/: a containerd or kubelet there would be found on PATH by the host's dockerd. ---

# containerd 2.x: kubelet >= 1.35 no longer supports containerd 1.x (Debian ships 1.6). Static, and
# without the storage drivers the node never uses (their cgo libraries are not there).
build_containerd() {
  local out=$cache/containerd-$CONTAINERD_VERSION m=github.com/containerd/containerd/v2
  GOFLAGS="$GOFLAGS -tags=no_btrfs,no_devmapper,no_zfs" build_simple containerd "$out" \
    "-X $m/version.Version=v$CONTAINERD_VERSION" "v$CONTAINERD_VERSION" \
    "$m/cmd/containerd" "$m/cmd/containerd-shim-runc-v2" "$m/cmd/ctr"
}

build_coredns() {
  local out=$cache/coredns-$COREDNS_VERSION
  build_simple coredns "$out" "" "v$COREDNS_VERSION" github.com/coredns/coredns
}

# The etcd kubeadm runs as a static pod: the release kubeadm names, not ETCD_VERSION (the KWOK one).
build_etcd_node() {
  local out=$cache/etcd-$KIND_ETCD_VERSION
  build_simple etcd-node "$out" "" "v$KIND_ETCD_VERSION" go.etcd.io/etcd/server/v3
  [ -x "$out/etcd" ] || mv "$out/server" "$out/etcd"
}

# Our own small programs for the node image (tools/kind-node/go): pause, the runc wrapper and the
# CNI agent. Keyed by a hash of their sources, so an edit rebuilds them. nvcf-runc is linked into
# bin/: the dockerd that `env up --cluster kind` starts runs privileged containers through it.
link_kind_node_go() {
  local src=$here/kind-node/go key out
  key=$(cd "$src" && find . -type f \( -name '*.go' -o -name go.mod \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  out=$cache/kind-node-go-$key
  if [ ! -d "$out" ]; then
    log "building the node image's own programs (pause, nvcf-runc, nvcf-cni)"
    mkdir -p "$out.tmp"
    (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/" ./cmd/...)
    rm -rf "$out" && mv "$out.tmp" "$out"
  fi
  link nvcf-runc "$out/nvcf-runc"
}

want=${*:-k8s etcd helm kwok registry}
for t in $want; do
  case $t in
    k8s) link_k8s ;; etcd) link_etcd ;; helm) link_helm ;; kwok) link_kwok ;;
    registry) link_registry ;; kind) link_kind ;;
    k8s-node) build_k8s_node ;; containerd) build_containerd ;; coredns) build_coredns ;;
    etcd-node) build_etcd_node ;; kind-node-go) link_kind_node_go ;;
    *) echo "tools/build.sh: unknown tool '$t' (known: k8s etcd helm kwok registry kind k8s-node containerd coredns etcd-node kind-node-go)" >&2; exit 2 ;;
  esac
done
log "tools ready in $bindir"
