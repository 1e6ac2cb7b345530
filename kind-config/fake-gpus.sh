#!/usr/bin/env bash
# Fake GPUs: every node labelled nvidia.com/gpu.count=N gets N `nvidia.com/gpu` in status capacity
# and allocatable, as if the NVIDIA device plugin had advertised them. Nothing runs on a GPU.
#
#   bash kind-config/fake-gpus.sh [KUBECONFIG]     (default .run/kind/kubeconfig)
#
# Re-run it after a node's kubelet restarts: kubelet resets extended resources no device plugin
# of its own advertises, so the fake capacity disappears (see kind-config/README.md).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kubeconfig="${1:-$KUBECONFIG_FILE}"
[[ -f "$kubeconfig" ]] || die "no kubeconfig at $kubeconfig: run \`make kind-up\` first"
KUBECTL="$(find_tool kubectl "${KUBECTL_BIN:-}")" || die "kubectl not found: run \`make tools\`"
kc() { "$KUBECTL" --kubeconfig "$kubeconfig" "$@"; }

listing="$(kc get nodes -l nvidia.com/gpu.count \
  -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.metadata.labels.nvidia\.com/gpu\.count}{"\n"}{end}')"
[[ -n "$listing" ]] || die "no node carries the label nvidia.com/gpu.count"

while read -r node count; do
  [[ "$count" =~ ^[1-9][0-9]*$ ]] || die "node $node: label nvidia.com/gpu.count='$count' is not a positive integer"
  # JSON patch on the status subresource: "~1" is the escaped "/" in the resource name.
  patch="$(printf '[{"op":"add","path":"/status/capacity/nvidia.com~1gpu","value":"%s"},{"op":"add","path":"/status/allocatable/nvidia.com~1gpu","value":"%s"}]' "$count" "$count")"
  got=""
  # A kubelet status update racing the patch can hide it for a moment; patch again until it reads back.
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    kc patch node "$node" --subresource=status --type=json -p "$patch" >/dev/null
    got="$(kc get node "$node" -o jsonpath='{.status.allocatable.nvidia\.com/gpu}')"
    [[ "$got" == "$count" ]] && break
    sleep 1
  done
  [[ "$got" == "$count" ]] || die "node $node: nvidia.com/gpu allocatable reads '$got' after patching, want $count"
  echo "node $node: nvidia.com/gpu=$count (fake)" >&2
done <<<"$listing"
