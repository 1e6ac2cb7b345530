#!/usr/bin/env bash
# Bring up the kind path: the registry container, a kind cluster whose nodes pull from it, the
# KEP-1755 ConfigMap, and fake GPU capacity on the labelled nodes.
#
#   bash kind-config/up.sh [single|multi]      (`make kind-up` runs `multi`)
#
# Writes .run/kind/kubeconfig and .run/kind/registry.json (address, username, password).
# Environment: KIND_NODE_IMAGE (kind --image), KIND_REGISTRY_PORT (5001), KIND_CLUSTER_NAME,
# NVCF_REGISTRY_IMAGE (registry image, default registry:2), NVCF_RUN_DIR (.run), and
# KIND_BIN / KUBECTL_BIN / NVCF_PYTHON to use other binaries than bin/ or PATH provide.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

layout="${1:-single}"
case "$layout" in
  single | multi) ;;
  *) die "unknown layout '$layout': use single or multi" ;;
esac
config="$KIND_DIR/$layout-node.yaml"

# Every precondition is checked before anything is created, so a refusal leaves nothing behind.
require_docker
KIND="$(find_tool kind "${KIND_BIN:-}")" || die "kind not found: run \`bash tools/build.sh kind\` (version pinned in tools/versions.env)"
KUBECTL="$(find_tool kubectl "${KUBECTL_BIN:-}")" || die "kubectl not found: run \`make tools\`"
PY="$(python_bin)"
clusters="$("$KIND" get clusters 2>/dev/null || true)"
if grep -qx -- "$CLUSTER_NAME" <<<"$clusters"; then
  die "kind cluster '$CLUSTER_NAME' already exists: run \`make kind-down\` first"
fi

kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
on_error() {
  # shellcheck disable=SC2016  # literal backticks quote a command
  printf '%s: failed; `make kind-down` removes whatever was created\n' "$(basename "$0")" >&2
}
trap on_error ERR

mkdir -p "$RUN_DIR"
# `python -m conformance...` must find the package even when the project is not pip-installed.
cd "$ROOT"

echo "starting registry container '$REGISTRY_NAME' on 127.0.0.1:$REGISTRY_PORT" >&2
(
  umask 077 # registry.json holds the password
  "$PY" -m conformance.env.docker_registry start \
    --name "$REGISTRY_NAME" --port "$REGISTRY_PORT" --state "$REGISTRY_STATE" >"$REGISTRY_JSON.tmp"
)
mv "$REGISTRY_JSON.tmp" "$REGISTRY_JSON"

kind_args=(create cluster --name "$CLUSTER_NAME" --config "$config" --kubeconfig "$KUBECONFIG_FILE" --wait 3m)
if [[ -n "${KIND_NODE_IMAGE:-}" ]]; then
  kind_args+=(--image "$KIND_NODE_IMAGE")
fi
"$KIND" "${kind_args[@]}"

# The nodes resolve the registry by container name on kind's network.
attached="$(docker inspect -f "{{json .NetworkSettings.Networks.$KIND_NETWORK}}" "$REGISTRY_NAME")"
if [[ "$attached" == "null" ]]; then
  docker network connect "$KIND_NETWORK" "$REGISTRY_NAME"
fi

# Inside a node, localhost is the node itself: hosts.toml sends pulls of localhost:PORT/... (and
# 127.0.0.1:PORT/..., the address the harness pushes to) to the container's own port instead.
# No credentials go here: pods must pull with the image pull secret, which kubelet hands to
# containerd without a server address, so containerd uses it for this mirror host too.
mapfile -t nodes < <("$KIND" get nodes --name "$CLUSTER_NAME")
[[ ${#nodes[@]} -gt 0 ]] || die "kind reports no nodes for cluster '$CLUSTER_NAME'"
hosts_toml="$(printf '[host."http://%s:5000"]\n  capabilities = ["pull", "resolve"]' "$REGISTRY_NAME")"
for node in "${nodes[@]}"; do
  for host in "localhost:$REGISTRY_PORT" "127.0.0.1:$REGISTRY_PORT"; do
    dir="/etc/containerd/certs.d/$host"
    printf '%s\n' "$hosts_toml" | docker exec -i "$node" sh -c "mkdir -p '$dir' && cat >'$dir/hosts.toml'"
  done
done

sed "s/localhost:5001/localhost:$REGISTRY_PORT/" "$KIND_DIR/local-registry-hosting.yaml" | kc apply -f -

bash "$KIND_DIR/fake-gpus.sh" "$KUBECONFIG_FILE"

trap - ERR
cat >&2 <<MSG
kind cluster '$CLUSTER_NAME' ($layout) is up
  kubeconfig: $KUBECONFIG_FILE
  registry:   127.0.0.1:$REGISTRY_PORT from this machine; images in pods: localhost:$REGISTRY_PORT/...
  credentials: $REGISTRY_JSON
MSG
