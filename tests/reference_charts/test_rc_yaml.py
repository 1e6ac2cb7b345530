"""The loader for untrusted chart output: JSON-shaped values, no alias bombs, no cycles."""

from __future__ import annotations

import pytest

from reference.charts.errors import ManifestError
from reference.charts.safe_yaml import load_document

LAUGHS = "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10) if i else ', '.join(['lol'] * 10)}]\n" for i in range(9)
)


def test_kubernetes_shaped_values() -> None:
    doc = load_document("date: 2024-01-01\non: yes\n2: two\nnull: ~\nlist: [1, 2.5, x]\n", max_expanded=1000)
    assert doc == {"date": "2024-01-01", "true": True, "2": "two", "null": None, "list": [1, 2.5, "x"]}


def test_empty_and_comment_only_documents_are_none() -> None:
    assert load_document("", max_expanded=10) is None
    assert load_document("# Source: x/templates/a.yaml\n", max_expanded=10) is None


def test_modest_aliases_are_fine() -> None:
    doc = load_document("base: &b {cpu: 1}\nlimits: *b\nmerged: {<<: *b, memory: 2}\n", max_expanded=1000)
    assert doc == {"base": {"cpu": 1}, "limits": {"cpu": 1}, "merged": {"cpu": 1, "memory": 2}}


def test_billion_laughs_is_refused_without_expanding() -> None:
    with pytest.raises(ManifestError, match="YAML bomb"):
        load_document(LAUGHS, max_expanded=4 * 1024 * 1024)


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(ManifestError, match="recursive"):
        load_document("a: &a [1, *a]\n", max_expanded=1000)


@pytest.mark.parametrize("text", ["b: !!binary aGVsbG8=\n", "s: !!set {a, b}\n", "p: !!python/object:os.system x\n"])
def test_non_json_types_are_refused(text: str) -> None:
    with pytest.raises(ManifestError):
        load_document(text, max_expanded=1000)


def test_invalid_yaml_and_deep_nesting_are_refused() -> None:
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_document("a: [1, 2\n", max_expanded=1000)
    for depth in (600, 2000):  # refused by our depth bound, or by libyaml's own depth limit
        with pytest.raises(ManifestError, match=r"more than 256 levels deep"):
            load_document("a: " + "[" * depth + "]" * depth, max_expanded=10**7)
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_document("a: 1\n---\nb: 2\n", max_expanded=1000)  # one document per call
