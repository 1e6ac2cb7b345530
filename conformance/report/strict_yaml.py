"""Reading a report YAML strictly: a mapping that names a key twice is refused, not resolved.

PyYAML keeps the last of two equal keys, other readers (and people) the first. A report with a second
`verdicts:` placed before the sealed one would verify (the digest covers the value PyYAML keeps) while
showing a reader the other one. The harness never writes a key twice, so any duplicate is tampering.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKey(ConstructorError):
    """A mapping names the same key twice. `str()` is one line with the key and where."""

    def __init__(self, key: object, node: yaml.Node) -> None:
        self.key = key
        self.line = node.start_mark.line + 1
        super().__init__(problem=f"duplicate key {key!r} at line {self.line}", problem_mark=node.start_mark)

    def __str__(self) -> str:
        return f"duplicate key {self.key!r} at line {self.line}"


class StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that raises `DuplicateKey` instead of letting the last value win."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # `<<` merges are YAML's own override mechanism, not a repeated key
            key = self.construct_object(key_node, deep=deep)
            try:
                repeated = key in seen
            except TypeError:
                continue  # unhashable: SafeLoader refuses it with its own error below
            if repeated:
                raise DuplicateKey(key, key_node)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load(text: str) -> Any:
    """One YAML document, strictly (raises `DuplicateKey`, or `yaml.YAMLError` for anything else)."""
    return yaml.load(text, Loader=StrictLoader)  # a SafeLoader subclass: no arbitrary objects
