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
cluster=${CLUSTER:-kwok}
if [ "$cluster" = kind ]; then
  # Real nodes: dockerd (when none runs), a kind cluster of our node image, the registry container,
  # the mini-service image pushed, the reference with the port-forward data plane (kind-config/).
  $nvcf env up --cluster kind
else
  $nvcf env up
fi

step "sample charts (run id $run_id)"
$nvcf charts push --run-id "$run_id" --no-twins --json > "$report_dir/charts.json"
echo "$(grep -c '"case"' "$report_dir/charts.json" || true) charts pushed; manifest $report_dir/charts.json"

step "rule inventory"
$nvcf list | tee "$report_dir/inventory.txt" | tail -n 3

step "suites"
if [ "$cluster" = kind ]; then
  $nvcf env status --json | python3 -c 'import json, sys
d = json.load(sys.stdin)
for part in ("registry", "nvcf"):
    for secret in ("password", "token", "api_key"):
        (d.get(part) or {}).pop(secret, None)
json.dump(d, sys.stdout, indent=2)' >"$report_dir/environment.json"
  read -r kubeconfig docker_host kind_cluster < <(python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
print(d["kubeconfig"], d["docker"]["host"], d["cluster"]["name"])' "$report_dir/environment.json")
  kc="bin/kubectl --kubeconfig $kubeconfig"
  # Which pods ran where, every 15 s while the suites run (the functions' pods are gone at the end).
  while sleep 15; do date -u +%FT%TZ; $kc get pods -A -o wide --no-headers 2>&1; done >"$report_dir/pods.log" &
  sampler=$!
fi
# Every profile the embedded reference claims; of the two security profiles it claims `current`
# (its default policy). `white-box` is claimed by the kubeconfig the environment provides.
status=0
$nvcf run --run-id "$run_id" --report-dir "$report_dir" -n "${NVCF_WORKERS:-auto}" \
  --profile grpc --profile multinode --profile ext --profile security-current || status=$?

if [ "$cluster" = kind ]; then
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  # The report records what it ran on: the nodes, what ran on them (pods.log: sampled during the
  # run), the images the nodes hold with their digests, and the environment without credentials.
  $kc get nodes -o wide --show-labels >"$report_dir/nodes.txt" 2>&1 || true
  for node in $(DOCKER_HOST=$docker_host docker ps --filter "label=io.x-k8s.kind.cluster=$kind_cluster" --format '{{.Names}}'); do
    DOCKER_HOST=$docker_host docker exec "$node" ctr -n k8s.io images ls 2>/dev/null |
      awk -v n="$node" 'NR > 1 && $1 !~ /^sha256:/ {print n, $1, $3}'
  done >"$report_dir/node-images.txt" || true
  printf 'environment: %s/{environment.json,nodes.txt,pods.log,node-images.txt}\n' "$report_dir"
fi

if [ "${NVCF_ENV_DOWN:-0}" = 1 ]; then
  step "environment down"
  $nvcf env down
fi
printf '\nreport folder: %s (open summary.html first)\n' "$report_dir"
exit "$status"
