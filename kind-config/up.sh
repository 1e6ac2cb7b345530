#!/usr/bin/env bash
# Bring up the kind path (what `make kind-up` runs): a thin front of
# `nvcf-conformance env up --cluster kind`, kept for the scripts and habits that call it.
#
#   bash kind-config/up.sh [single|multi]      (default multi)
#
# Everything is built offline and started as described in kind-config/README.md; the state (with
# kubeconfig, registry address and credentials) is `nvcf-conformance env status --json`.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

layout="${1:-multi}"
case "$layout" in
  single | multi) ;;
  *) die "unknown layout '$layout': use single or multi" ;;
esac
PY="$(python_bin)"
# `python -m conformance...` must find the package even when the project is not pip-installed.
cd "$ROOT"
exec "$PY" -m conformance.cli env up --cluster kind --layout "$layout"
