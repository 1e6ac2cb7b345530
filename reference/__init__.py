"""A reference NVCF control plane for helm-based functions.

It is the embedded default target of the harness and the base of the mutants that prove the suites.
The harness never imports this package: it only speaks to it over HTTP, as it would to any NVCF.
Chart handling, Kubernetes and the function data plane plug in through `reference.ports`.
"""
