# nvcf-conformance — the two commands a user needs are `make conformance` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NVCF := $(BIN)/nvcf-conformance
PYTEST_ARGS ?=
# The project's tests wait on processes (registry, KWOK, reference, helm) more than they compute: two
# xdist workers take 8 min where one takes 12 on 2 cores (each worker brings up its own environment).
TEST_WORKERS ?= 2
MUTATION_ARGS ?=

.PHONY: help install tools env-up env-down conformance test lint bench bench-env bench-charts bench-reference mutation \
        soak nvidia-verdicts \
        kind-up kind-down test-kind clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

MINI_SERVICE := sample-charts/images/mini-service

$(BIN)/.installed: pyproject.toml $(MINI_SERVICE)/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e $(MINI_SERVICE) -e '.[dev]'
	touch $@

install: $(BIN)/.installed ## create .venv and install the harness with its dev tools

tools: ## build (or link) the pinned toolchain into bin/ — cached, so a second run takes seconds
	bash tools/build.sh

env-up: install tools ## start registry + KWOK cluster (+ reference NVCF)
	$(NVCF) env up

env-down: install ## stop everything env-up started
	$(NVCF) env down

CLUSTER ?= kwok
conformance: install tools ## the main job: env + charts + suites + report (CLUSTER=kind: real nodes, see kind-config/)
	CLUSTER=$(CLUSTER) bash scripts/conformance.sh

test: install tools ## the project's own tests (unit, meta, env, charts, probe, kind config)
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

bench: install tools ## wall time per phase of `make conformance` against its goals, then the other benchmarks
	$(BIN)/python -m conformance.bench.run
	$(MAKE) bench-env bench-charts bench-reference

bench-env: install ## cold/warm `make tools`, env up/down times, peak memory
	$(BIN)/python -m conformance.bench.env

bench-charts: install tools ## cold and warm build+push of all sample charts
	$(BIN)/python -m conformance.bench.charts

bench-reference: install tools ## render+validate vs helm, create->ACTIVE, invocation overhead (env up first)
	$(BIN)/python -m conformance.bench.reference

mutation: install tools ## every MUST/EXT rule against the reference mutant that breaks it; fails on a survivor
	$(BIN)/python -m conformance.mutation -n 2 $(MUTATION_ARGS)

nvidia-verdicts: install tools ## the suites against the NVIDIA-like personality; fails on any verdict not in its table
	$(BIN)/python -m conformance.mutation --only-personality $(MUTATION_ARGS)

SOAK_ARGS ?=
soak: install tools ## core-profile runs with the reference killed / the registry restarted mid-run (benchmark, slow)
	$(BIN)/python -m conformance.bench.soak $(SOAK_ARGS)

kind-up: install tools ## kind env: dockerd if none, kind cluster of our node image, registry, reference (root)
	$(NVCF) env up --cluster kind

kind-down: install ## remove everything kind-up started
	$(NVCF) env down

test-kind: install tools ## kind up, a slice of the suites on real pods, kind down, nothing left (slow, root)
	NVCF_KIND_E2E=1 $(BIN)/pytest tests/kind/test_kind_e2e.py -p no:cacheprovider $(PYTEST_ARGS)

clean: ## stop the env and remove run state (keeps the tool cache)
	-$(NVCF) env down
	rm -rf .run reports/*/
