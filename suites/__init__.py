"""The conformance suites: one pytest module per area of the helm-based functions spec.

Run them through the harness (`nvcf-conformance run`) or `pytest -p conformance.plugin suites/`.
"""
