#!/usr/bin/env bash
# Take the kind path down (what `make kind-down` runs): a thin front of `nvcf-conformance env down`,
# which removes exactly what `env up --cluster kind` recorded (containers by id, the cluster, kind's
# network if it created it, and dockerd if it started it). Safe to re-run.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY="$(python_bin)"
cd "$ROOT"
exec "$PY" -m conformance.cli env down
