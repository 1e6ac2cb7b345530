"""Every helm process runs under memory and CPU bounds; hitting one is a render error naming the bound."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from rc_chartkit import PushChart, write_chart

from reference.charts import RegistryAuth, RenderError, prepare
from reference.charts.errors import ManifestError
from reference.charts.helm import MIB, ChildLimits, Helm
from reference.charts.render import RenderLimits, render_chart

# A 3 KB chart can do this: doubling 8 bytes 25 times is a 256 MiB string, and helm keeps every
# step. Unbounded, the pinned helm peaks at ~1.06 GiB RSS and renders it (a ConfigMap of 117 bytes).
DOUBLING = """{{- $s := "abcdefgh" }}
{{- range until (int .Values.doublings) }}{{- $s = printf "%s%s" $s $s }}{{- end }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: doubled
data:
  size: {{ len $s | quote }}
"""
# Busy without memory: 25 million loop steps over two small lists.
SPIN = """{{- $n := 0 }}
{{- range until 5000 }}{{- range until 5000 }}{{- $n = add1 $n }}{{- end }}{{- end }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: spin
data:
  n: {{ $n | quote }}
"""


def _render(tmp_path: Path, template: str, values: dict[str, int] | None = None,
            limits: RenderLimits | None = None) -> int:
    chart = write_chart(tmp_path / "chart", templates={"t.yaml": template})
    rendered = render_chart(chart, release="r", namespace="n", values=values, workdir=tmp_path / "w", limits=limits)
    return len(rendered.objects)


def _fake_helm(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "fake-helm"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return path


def test_a_doubling_template_is_stopped_at_the_memory_bound(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(RenderError) as info:
        _render(tmp_path, DOUBLING, {"doublings": 25})
    assert "helm template needed more than 512 MiB of memory" in info.value.reason
    assert time.monotonic() - started < 30  # stopped, not timed out


def test_the_same_template_within_the_bound_renders(tmp_path: Path) -> None:
    assert _render(tmp_path, DOUBLING, {"doublings": 20}) == 1  # a 8 MiB string


def test_a_spinning_template_is_stopped_at_the_cpu_bound(tmp_path: Path) -> None:
    with pytest.raises(RenderError) as info:
        _render(tmp_path, SPIN, limits=RenderLimits(max_helm_cpu_seconds=1))
    assert "helm template used more than 1 s of CPU time" in info.value.reason


def test_limits_are_in_force_from_helms_first_instruction(tmp_path: Path) -> None:
    binary = _fake_helm(tmp_path, "cat /proc/self/limits; echo GOMEMLIMIT=$GOMEMLIMIT")
    limits = ChildLimits(memory_bytes=200 * MIB, cpu_seconds=7)
    with Helm(tmp_path / "home", binary=binary, limits=limits) as helm:
        out = helm.run(["version"], timeout=10).stdout
        written = tmp_path / "out"
        helm.run_to_file(["template"], written, timeout=10, max_bytes=MIB)
    for text in (out, written.read_text()):
        assert re.search(rf"^Max data size\s+{200 * MIB}\s+{200 * MIB}\s+bytes", text, re.M), text
        assert re.search(r"^Max cpu time\s+7\s+7\s+seconds", text, re.M), text
        assert f"GOMEMLIMIT={150 * MIB}B" in text


def test_stdin_reaches_helm_and_stdout_comes_back(tmp_path: Path) -> None:
    with Helm(tmp_path / "home", binary=_fake_helm(tmp_path, "cat; echo; echo oops >&2; exit 3")) as helm:
        run = helm.run(["registry", "login"], stdin="s3cret", timeout=10)
    assert (run.returncode, run.stdout, run.stderr) == (3, "s3cret\n", "oops\n")


def test_the_output_bound_is_enforced_while_reading(tmp_path: Path) -> None:
    # Endless output: only a bound checked on the way in can end it before the timeout.
    binary = _fake_helm(tmp_path, f"echo $$ > {tmp_path / 'pid'}; exec yes 0123456789abcdef")
    started = time.monotonic()
    with Helm(tmp_path / "home", binary=binary) as helm, pytest.raises(ManifestError, match="larger than"):
        helm.run_to_file(["template"], tmp_path / "out", timeout=60, max_bytes=MIB)
    assert time.monotonic() - started < 10
    assert (tmp_path / "out").stat().st_size <= MIB
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        os.kill(int((tmp_path / "pid").read_text()), 0)


def test_a_chart_over_the_memory_bound_is_refused_by_prepare(push_chart: PushChart, registry_auth: RegistryAuth,
                                                             tmp_path: Path) -> None:
    url = push_chart(name="doubling", version="1.0.0", templates={"t.yaml": DOUBLING}, values={"doublings": 25})
    with pytest.raises(RenderError, match="needed more than 512 MiB of memory"):
        prepare(url, "mini", 8000, None, registry_auth=[registry_auth], workdir=tmp_path / "work")

