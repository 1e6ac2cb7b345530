"""A reference NVCF control plane for helm-based functions.

It is the embedded default target of the harness and the base of the mutants that prove the suites.
The harness never imports this package, nor does this package import the harness (tests/test_boundaries.py
checks both): the harness starts it as a process (`nvcf-reference serve`) and speaks to it over HTTP and
gRPC, as it would to any NVCF.
Chart handling, Kubernetes and the function data plane plug in through `reference.ports`.
"""

__version__ = "0.1.0"
