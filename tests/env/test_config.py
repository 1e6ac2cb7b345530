"""Environment config: defaults, overrides, and one-line errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.cli import main
from conformance.env.config import EnvConfig, load_config
from conformance.errors import ConfigError


def test_default_shape_has_cpu_l40s_and_b200_nodes() -> None:
    shape = {g.name: (g.count, g.gpus, g.gpu_product) for g in EnvConfig().nodes}
    assert shape == {"cpu": (1, 0, ""), "l40s": (2, 1, "L40S"), "b200": (2, 8, "B200")}


def test_file_overrides_node_shape(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("nodes:\n  - {name: h100, count: 3, gpus: 8, gpuProduct: H100}\nregistry: {port: 5999}\n")
    cfg = load_config(path)
    assert [(g.name, g.count, g.gpus) for g in cfg.nodes] == [("h100", 3, 8)]
    assert cfg.registry_port == 5999


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("nodes: {name: x}\n", "nodes"),
        ("nodes:\n  - {name: gpu, count: 2, gpus: 4}\n", "nodes[0].gpuProduct"),
        ("nodes:\n  - {name: gpu, count: two}\n", "nodes[0].count"),
        ("nodes:\n  - {name: a, colour: red}\n", "nodes[0].colour"),
        ("registry: {port: 99999}\n", "registry.port"),
        ("clusterName: Not_A_Label\n", "clusterName"),
        ("bogus: 1\n", "bogus"),
        ("nodes: [\n", "not valid YAML"),
    ],
)
def test_broken_config_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message and field in message
    assert "\n" not in message


def test_cli_reports_broken_config_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("nodes:\n  - {name: gpu, count: -1}\n")
    assert main(["env", "up", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "nodes[0].count" in err and "Traceback" not in err


def test_cli_reports_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "up", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
