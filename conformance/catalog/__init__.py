"""The rule catalog: what the harness asserts, at which level, for which profiles, with which charts."""

from conformance.catalog.load import DEFAULT_PATH, Catalog, Rule, Variant, load_catalog

__all__ = ["DEFAULT_PATH", "Catalog", "Rule", "Variant", "load_catalog"]
