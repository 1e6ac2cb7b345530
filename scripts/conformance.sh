#!/usr/bin/env bash
# `make conformance`: the main job on the embedded default target.
#   1. env up      — OCI registry + KWOK cluster (+ the reference NVCF server once it exists)
#   2. charts push — every sample chart built, linted, packaged and pushed with the run id stamped in
#   3. list        — the rule inventory (rules, levels, charts, tests)
#   4. run         — the suites against the reference, and the report under reports/<run-id>/
# Exit code: that of `run` (0 conformant, 1 non-conformant, 2 harness or environment error).
# The environment is left running for inspection unless NVCF_ENV_DOWN=1; stop it with `make env-down`.
set -euo pipefail
cd "$(dirname "$0")/.."
nvcf=.venv/bin/nvcf-conformance
run_id=${NVCF_RUN_ID:-$(date -u +%Y%m%d-%H%M%S)-$(od -An -N2 -tx2 /dev/urandom | tr -d ' ')}
report_dir=reports/$run_id
mkdir -p "$report_dir"

step() { printf '\n== %s\n' "$*"; }

step "environment"
$nvcf env up

step "sample charts (run id $run_id)"
$nvcf charts push --run-id "$run_id" --no-twins --json > "$report_dir/charts.json"
echo "$(grep -c '"case"' "$report_dir/charts.json" || true) charts pushed; manifest $report_dir/charts.json"

step "rule inventory"
$nvcf list | tee "$report_dir/inventory.txt" | tail -n 3

step "suites"
# Every profile the embedded reference claims; of the two security profiles it claims `current`
# (its default policy). `white-box` is claimed by the kubeconfig the environment provides.
status=0
$nvcf run --run-id "$run_id" --report-dir "$report_dir" -n "${NVCF_WORKERS:-auto}" \
  --profile grpc --profile multinode --profile ext --profile security-current || status=$?

if [ "${NVCF_ENV_DOWN:-0}" = 1 ]; then
  step "environment down"
  $nvcf env down
fi
printf '\nreport folder: %s (open summary.html first)\n' "$report_dir"
exit "$status"
