"""nvcf-conformance: certify NVIDIA Cloud Functions backends for helm-based functions."""

__version__ = "0.1.0"
