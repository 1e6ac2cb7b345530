#!/usr/bin/env bash
# Take the kind path down: delete the kind cluster and remove the registry container that up.sh
# started (found by the container id in .run/kind/registry-state.json, never by name, so a
# same-named container someone else runs is left alone).
#
#   bash kind-config/down.sh      (`make kind-down`)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_docker
KIND="$(find_tool kind "${KIND_BIN:-}")" || die "kind not found: run \`bash tools/build.sh kind\` (version pinned in tools/versions.env)"
PY="$(python_bin)"
cd "$ROOT"

# Deleting a cluster that does not exist is not an error for kind, so down.sh can always be re-run.
"$KIND" delete cluster --name "$CLUSTER_NAME" --kubeconfig "$KUBECONFIG_FILE"

if [[ -f "$REGISTRY_STATE" ]]; then
  "$PY" -m conformance.env.docker_registry stop --state "$REGISTRY_STATE"
else
  echo "no registry state at $REGISTRY_STATE: no registry container to remove" >&2
fi
rm -f "$REGISTRY_JSON" "$REGISTRY_JSON.tmp" "$KUBECONFIG_FILE"
