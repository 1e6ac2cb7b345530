"""The deployment's `configuration` as helm should see it, and as the override mutants garble it.

Correct behaviour needs no code: the configuration goes to helm unchanged as a values file and
Helm's own merge applies (maps merge, lists and scalars replace, null deletes). The mutants rewrite
the configuration against the chart's defaults so that one documented merge behaviour breaks.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from reference import rules

_OVERRIDE_MUTANTS = frozenset(
    {
        rules.OVERRIDES_SCALAR,
        rules.OVERRIDES_NESTED,
        rules.OVERRIDES_UNSET_KEEP_DEFAULTS,
        rules.OVERRIDES_MAPS_MERGE,
        rules.OVERRIDES_LISTS_REPLACE,
        rules.OVERRIDES_NULL_REMOVES,
    }
)


def needs_defaults(violate: Collection[str]) -> bool:
    return bool(_OVERRIDE_MUTANTS & set(violate))


def effective_configuration(
    configuration: Mapping[str, Any] | None, defaults: Mapping[str, Any], violate: Collection[str]
) -> dict[str, Any]:
    config: dict[str, Any] = dict(configuration or {})
    if not needs_defaults(violate):
        return config
    if rules.OVERRIDES_NULL_REMOVES in violate:
        config = _without_nulls(config)
    if rules.OVERRIDES_SCALAR in violate:
        config = {k: v for k, v in config.items() if isinstance(v, dict | list)}
    if rules.OVERRIDES_NESTED in violate:
        config = {k: _only_top(v) for k, v in config.items()}
    if rules.OVERRIDES_LISTS_REPLACE in violate:
        config = _append_lists(config, defaults)
    if rules.OVERRIDES_MAPS_MERGE in violate:
        config = _replace_maps(config, defaults)
    if rules.OVERRIDES_UNSET_KEEP_DEFAULTS in violate and config:
        config = {**{k: None for k in defaults if k not in config}, **config}
    return config


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _only_top(value: Any) -> Any:
    """A nested map with its scalar leaves dropped (nested overrides ignored)."""
    if isinstance(value, dict):
        kept = {k: _only_top(v) for k, v in value.items() if isinstance(v, dict | list)}
        return {k: v for k, v in kept.items() if v != {}}
    return value


def _append_lists(config: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        base = defaults.get(key)
        if isinstance(value, list) and isinstance(base, list):
            out[key] = [*base, *value]
        elif isinstance(value, dict) and isinstance(base, dict):
            out[key] = _append_lists(value, base)
        else:
            out[key] = value
    return out


def _replace_maps(config: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Null out default keys the override leaves unnamed, so the override map replaces the default."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        base = defaults.get(key)
        if isinstance(value, dict) and isinstance(base, dict):
            nested = _replace_maps(value, base)
            out[key] = {**{k: None for k in base if k not in value}, **nested}
        else:
            out[key] = value
    return out
