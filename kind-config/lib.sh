# shellcheck shell=bash disable=SC2034
# Sourced by up.sh, down.sh and fake-gpus.sh: names, locations and tool lookup in one place, so
# the three scripts cannot disagree about which cluster, registry or kubeconfig they act on.

KIND_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$KIND_DIR/.." && pwd)"

CLUSTER_NAME="${KIND_CLUSTER_NAME:-nvcf-conformance}"
REGISTRY_NAME="${KIND_REGISTRY_NAME:-kind-registry}"
REGISTRY_PORT="${KIND_REGISTRY_PORT:-5001}"
# kind itself honours this variable for the network its nodes join; the registry must join the same.
KIND_NETWORK="${KIND_EXPERIMENTAL_DOCKER_NETWORK:-kind}"

RUN_DIR="${NVCF_RUN_DIR:-$ROOT/.run}/kind"
# Absolute, because up.sh and down.sh change into the repository before they run Python.
[[ "$RUN_DIR" == /* ]] || RUN_DIR="$PWD/$RUN_DIR"
KUBECONFIG_FILE="$RUN_DIR/kubeconfig"
REGISTRY_JSON="$RUN_DIR/registry.json"
REGISTRY_STATE="$RUN_DIR/registry-state.json"

# shellcheck disable=SC2016  # the backticks are literal: they quote a command for the user
NO_DOCKER_MSG='no Docker engine: kind needs one; the embedded KWOK env needs none: use `make conformance`'

die() {
  printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2
  exit 1
}

# find_tool NAME [OVERRIDE]: an explicit override (KIND_BIN, KUBECTL_BIN) first, then the pinned
# binary linked into bin/ by tools/build.sh, which wins over whatever is on PATH.
find_tool() {
  if [[ -n "${2:-}" ]]; then
    printf '%s\n' "$2"
  elif [[ -x "$ROOT/bin/$1" ]]; then
    printf '%s\n' "$ROOT/bin/$1"
  elif command -v "$1" >/dev/null 2>&1; then
    command -v "$1"
  else
    return 1
  fi
}

require_docker() {
  command -v docker >/dev/null 2>&1 || die "$NO_DOCKER_MSG"
  # `docker info` exits non-zero when the client is installed but no engine answers.
  docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 || die "$NO_DOCKER_MSG"
}

python_bin() {
  if [[ -n "${NVCF_PYTHON:-}" ]]; then
    printf '%s\n' "$NVCF_PYTHON"
  elif [[ -x "$ROOT/.venv/bin/python" ]]; then
    printf '%s\n' "$ROOT/.venv/bin/python"
  elif command -v python3 >/dev/null 2>&1; then
    command -v python3
  else
    die "no Python found: create the project venv (.venv) first"
  fi
}
