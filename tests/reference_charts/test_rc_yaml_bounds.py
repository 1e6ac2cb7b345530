"""Every way a YAML document can nest too deep is refused with the bound named, never a traceback."""

from __future__ import annotations

import pytest
import yaml

from reference.charts import safe_yaml
from reference.charts.errors import ManifestError
from reference.charts.safe_yaml import MAX_DEPTH, load_document

DEEP = f"more than {MAX_DEPTH} levels deep"


def _flow(depth: int) -> str:
    return "a: " + "[" * depth + "]" * depth


def _block(depth: int) -> str:
    return "".join("  " * i + "k:\n" for i in range(depth)) + "  " * depth + "leaf: 1\n"


@pytest.mark.parametrize("text", [_flow(MAX_DEPTH + 5), _flow(1000), _flow(50_000), _block(MAX_DEPTH + 5),
                                  _block(1200)], ids=["flow", "flow-libyaml", "flow-huge", "block", "block-libyaml"])
def test_deep_text_is_refused_naming_the_bound(text: str) -> None:
    with pytest.raises(ManifestError, match=DEEP):
        load_document(text, max_expanded=10**7)


def test_nesting_within_the_bound_is_parsed() -> None:
    doc = load_document(_block(100), max_expanded=10**7)
    for _ in range(100):
        doc = doc["k"]
    assert doc == {"leaf": 1}


def test_aliases_cannot_stack_deeper_than_the_text() -> None:
    # Each anchor nests 130 levels and holds the previous one: 390 levels, though no line nests over 130.
    text = "".join(
        f"a{i}: &a{i} " + "[" * 130 + (f"*a{i - 1}" if i else "1") + "]" * 130 + "\n" for i in range(3)
    )
    with pytest.raises(ManifestError, match=DEEP):
        load_document(text, max_expanded=10**7)


def test_without_libyaml_deep_text_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    class PurePython(yaml.SafeLoader):
        yaml_implicit_resolvers = safe_yaml._Loader.yaml_implicit_resolvers

    monkeypatch.setattr(safe_yaml, "_Loader", PurePython)
    with pytest.raises(ManifestError, match=DEEP):
        # Flow maps: PyYAML's own scanner is quadratic in the depth of flow sequences, not of these.
        load_document("a: " + "{a: " * 1500 + "1" + "}" * 1500, max_expanded=10**7)


def test_alias_expansion_is_bounded_and_named() -> None:
    laughs = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10) if i else 'x'}]\n" for i in range(7))
    with pytest.raises(ManifestError, match="aliases expand to more than 100000 nodes and characters"):
        load_document(laughs, max_expanded=100_000)
