# shellcheck shell=bash disable=SC2034
# Sourced by up.sh, down.sh and fake-gpus.sh: locations and tool lookup in one place, so the three
# scripts cannot disagree about which kubeconfig or Python they use.

KIND_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$KIND_DIR/.." && pwd)"

RUN_DIR="${NVCF_RUN_DIR:-$ROOT/.run}/kind"
# Absolute: the scripts change into the repository before they run Python.
[[ "$RUN_DIR" == /* ]] || RUN_DIR="$PWD/$RUN_DIR"
KUBECONFIG_FILE="$RUN_DIR/kubeconfig"

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
