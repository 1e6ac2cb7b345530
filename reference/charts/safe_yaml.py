"""A YAML loader for untrusted chart output: JSON-shaped results, and no alias bombs.

PyYAML keeps an alias as a reference to the anchored node, so a "billion laughs" document costs
nothing to *compose*; the damage comes when it is constructed, serialised or walked. We therefore
compose first, measure what the node graph would expand to (memoised per node, so the measuring is
linear in the document), refuse cycles and oversized expansions, and only then construct.

Results are restricted to what a Kubernetes object can be (maps with string keys, lists, strings,
numbers, booleans, null): timestamps stay strings as they do in Kubernetes' own YAML decoding, and
tags that build other Python types are refused.
"""

from __future__ import annotations

from typing import Any

import yaml

from reference.charts.errors import ManifestError

try:
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    pass


# Kubernetes decodes `2024-01-01` as a string; PyYAML would make it a date that JSON cannot carry.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_JSON_SCALARS = (str, int, float, bool, type(None))


def _expansion(root: yaml.Node, limit: int) -> tuple[int, bool]:
    """(expanded weight, whether any node is shared), refusing cycles; weight = nodes + scalar chars."""
    weight: dict[int, int] = {}
    active: set[int] = set()
    shared = False
    # Iterative post-order walk: chart output can nest deeper than Python's recursion limit.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            total = 1
            if isinstance(node, yaml.SequenceNode):
                total += sum(weight[id(child)] for child in node.value)
            elif isinstance(node, yaml.MappingNode):
                total += sum(weight[id(k)] + weight[id(v)] for k, v in node.value)
            weight[key] = min(total, limit + 1)  # saturate: the exact size of a bomb is irrelevant
            continue
        if key in weight:
            shared = True
            continue
        if key in active:
            raise ManifestError("it contains a recursive YAML alias")
        if isinstance(node, yaml.ScalarNode):
            weight[key] = 1 + len(node.value)
            continue
        active.add(key)
        stack.append((node, True))
        children: list[yaml.Node] = (
            list(node.value) if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
        )
        for child in children:
            if id(child) in weight:
                shared = True
            elif id(child) in active:
                raise ManifestError("it contains a recursive YAML alias")
            else:
                stack.append((child, False))
    return weight[id(root)], shared


# Real Kubernetes objects nest a few dozen levels; hundreds only come from hostile output.
MAX_DEPTH = 256
_TOO_DEEP = f"it nests more than {MAX_DEPTH} levels deep, the most this server parses"


def _is_json_shaped(value: Any) -> bool:
    """Whether `value` is JSON-shaped already; a look without building anything, for the common case."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ManifestError(_TOO_DEEP)
        if isinstance(item, dict):
            for k, v in item.items():
                if type(k) is not str:
                    return False
                stack.append((v, depth + 1))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif not isinstance(item, _JSON_SCALARS):
            return False
    return True


def _json_shaped(value: Any, where: str = "", depth: int = 0) -> Any:
    if depth > MAX_DEPTH:  # aliases can stack nodes deeper than the text is
        raise ManifestError(_TOO_DEEP)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if isinstance(k, bool):
                k = "true" if k else "false"
            elif k is None:
                k = "null"
            elif isinstance(k, int | float):
                k = str(k)
            elif not isinstance(k, str):
                raise ManifestError(f"it has a map key of type {type(k).__name__} at '{where or '/'}'")
            out[k] = _json_shaped(v, f"{where}/{k}", depth + 1)
        return out
    if isinstance(value, list):
        return [_json_shaped(v, f"{where}/{i}", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, _JSON_SCALARS):
        return value
    raise ManifestError(f"it has a value of YAML type {type(value).__name__} at '{where or '/'}'")


def load_document(text: str, *, max_expanded: int) -> Any:
    """Parse one YAML document; None for an empty or comment-only one.

    `max_expanded` bounds the weight (nodes + scalar characters) of a document that uses aliases,
    once every alias is expanded. Alias-free documents are bounded by their own size already.
    """
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            if "maximum nesting depth" in str(exc):  # libyaml's own bound (1000), past ours anyway
                raise ManifestError(_TOO_DEEP) from None
            raise ManifestError(f"it is not valid YAML: {' '.join(str(exc).split())}") from None
        except RecursionError:  # PyYAML's pure-Python composer (no libyaml) recurses per level
            raise ManifestError(_TOO_DEEP) from None
        if node is None:
            return None
        # Only an alias (`*name`) can make a document expand past its own size; without a `*`
        # anywhere in the text there is none, and the walk over every node can be skipped.
        weight, shared = _expansion(node, max_expanded) if "*" in text else (0, False)
        if shared and weight > max_expanded:
            raise ManifestError(
                f"its YAML aliases expand to more than {max_expanded} nodes and characters (a YAML bomb)"
            )
        try:
            data = loader.construct_document(node)
            # Rebuilt (keys made strings, other types refused) only when it is not JSON-shaped already, or
            # when aliases share a node: each place must get its own copy, as in JSON.
            return data if not shared and _is_json_shaped(data) else _json_shaped(data)
        except yaml.YAMLError as exc:
            raise ManifestError(f"it is not valid YAML: {' '.join(str(exc).split())}") from None
        except RecursionError:
            raise ManifestError(_TOO_DEEP) from None
    finally:
        loader.dispose()
