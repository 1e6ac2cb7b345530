"""The target under test: layered configuration (embedded env < file < environment < overrides)."""

from conformance.target.config import KEYS, Endpoint, GpuShape, Key, TargetConfig, load_target

__all__ = ["KEYS", "Endpoint", "GpuShape", "Key", "TargetConfig", "load_target"]
