"""Preflight: before any test, find what would make the run's verdicts meaningless (`nvcf-conformance
preflight`, and the first step of `run`)."""
