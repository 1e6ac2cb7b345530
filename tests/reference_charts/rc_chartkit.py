"""Small charts written on the fly for the reference chart-pipeline tests, and the helm calls to ship them."""

from __future__ import annotations

import copy
import io
import os
import subprocess
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from conformance.env.registry import RegistryEndpoint
from conformance.paths import tool

IMAGE = "127.0.0.1:5000/nvcf-conformance/mini-service:0.1.0"
SERVICE = "mini"
PORT = 8000

Template = str | Mapping[str, Any] | list[Mapping[str, Any]]
# The fixtures' call signatures (see conftest.py): render a chart folder, push a chart and get its URL.
RenderFiles = Callable[..., Any]
PushChart = Callable[..., str]


def pod_spec(**changes: Any) -> dict[str, Any]:
    """A pod spec that meets every documented security standard; `changes` are set at the top level."""
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "app",
                "image": IMAGE,
                "ports": [{"name": "http", "containerPort": PORT}],
                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
    }
    spec.update(copy.deepcopy(changes))
    return spec


def container(spec: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return spec["containers"][index]


def workload(
    kind: str, name: str, spec: dict[str, Any] | None = None, api_version: str | None = None
) -> dict[str, Any]:
    """An object of a pod-bearing kind around `spec`."""
    spec = spec if spec is not None else pod_spec()
    labels = {"app": name}
    template = {"metadata": {"labels": labels}, "spec": spec}
    if kind == "Pod":
        return {"apiVersion": api_version or "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                "spec": spec}
    if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        body: dict[str, Any] = {"replicas": 1, "selector": {"matchLabels": labels}, "template": template}
        if kind == "StatefulSet":
            body["serviceName"] = name
        return {"apiVersion": api_version or "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": body}
    job_template = {"metadata": {"labels": labels}, "spec": {**spec, "restartPolicy": "Never"}}
    if kind == "Job":
        return {"apiVersion": api_version or "batch/v1", "kind": "Job", "metadata": {"name": name},
                "spec": {"template": job_template}}
    if kind == "CronJob":
        return {"apiVersion": api_version or "batch/v1", "kind": "CronJob", "metadata": {"name": name},
                "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": job_template}}}}
    raise ValueError(kind)


POD_KINDS = ("Pod", "Deployment", "ReplicaSet", "StatefulSet", "Job", "CronJob")


def service(name: str = SERVICE, port: int = PORT, type_: str | None = None, **spec: Any) -> dict[str, Any]:
    ports = [{"name": "http", "port": port, "targetPort": "http"}]
    body: dict[str, Any] = {"selector": {"app": "mini"}, "ports": ports}
    if type_ is not None:
        body["type"] = type_
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


def base_templates() -> dict[str, Template]:
    """The clean mini-service: one Deployment, one Service named `mini` on port 8000."""
    return {"deployment.yaml": workload("Deployment", "mini"), "service.yaml": service()}


def hook(obj: dict[str, Any], events: str = "pre-install") -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {}).setdefault("annotations", {})["helm.sh/hook"] = events
    return obj


def crd(plural: str = "widgets", group: str = "example.com") -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": plural.capitalize()[:-1], "plural": plural},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": {"type": "object"}}}],
        },
    }


def _text(template: Template) -> str:
    if isinstance(template, str):
        return template
    if isinstance(template, list):
        return "---\n".join(yaml.safe_dump(dict(t), sort_keys=False) for t in template)
    return yaml.safe_dump(dict(template), sort_keys=False)


def write_chart(
    root: Path,
    *,
    name: str = "mini",
    version: str = "1.0.0",
    templates: Mapping[str, Template] | None = None,
    values: Mapping[str, Any] | None = None,
    crds: Mapping[str, Template] | None = None,
    subcharts: Mapping[str, Mapping[str, Template]] | None = None,
    chart_fields: Mapping[str, Any] | None = None,
) -> Path:
    """A chart folder `root/name`; subcharts are vendored under charts/ and declared as dependencies."""
    chart = root / name
    (chart / "templates").mkdir(parents=True)
    meta: dict[str, Any] = {"apiVersion": "v2", "name": name, "version": version, "type": "application"}
    if subcharts:
        meta["dependencies"] = [{"name": sub, "version": "0.1.0"} for sub in subcharts]
    meta.update(chart_fields or {})
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    (chart / "values.yaml").write_text(yaml.safe_dump(dict(values or {}), sort_keys=False))
    for path, template in (templates if templates is not None else base_templates()).items():
        (chart / "templates" / path).write_text(_text(template))
    if crds:
        (chart / "crds").mkdir()
        for path, template in crds.items():
            (chart / "crds" / path).write_text(_text(template))
    for sub, sub_templates in (subcharts or {}).items():
        write_chart(chart / "charts", name=sub, version="0.1.0", templates=sub_templates)
    return chart


def helm(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    env.update(
        HELM_CONFIG_HOME=str(home / "config"), HELM_CACHE_HOME=str(home / "cache"),
        HELM_DATA_HOME=str(home / "data"), HELM_REGISTRY_CONFIG=str(home / "registry.json"), KUBECONFIG=os.devnull,
    )
    return subprocess.run([str(tool("helm")), *args], input=stdin or "", capture_output=True, text=True, env=env,
                          check=True, timeout=60)


def package(chart_dir: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    helm(dest / ".helm", "package", str(chart_dir), "--destination", str(dest))
    meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    return dest / f"{meta['name']}-{meta['version']}.tgz"


def push(archive: Path, endpoint: RegistryEndpoint, repository: str, home: Path) -> None:
    """Push to oci://ADDRESS/REPOSITORY (which should end in /charts for the documented form)."""
    helm(home, "registry", "login", endpoint.address, "--username", endpoint.username, "--password-stdin",
         "--plain-http", stdin=endpoint.password)
    helm(home, "push", str(archive), f"oci://{endpoint.address}/{repository}", "--plain-http")


def chart_url(endpoint: RegistryEndpoint, repository: str, name: str, version: str) -> str:
    return f"oci://{endpoint.address}/{repository}/{name}-{version}.tgz"


def tar_gz(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """A hand-made .tgz: each TarInfo written as given (so names, types and links can be hostile)."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def file_member(name: str, data: bytes = b"x: 1\n") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info, data


def chart_members(name: str = "mini") -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [file_member(f"{name}/Chart.yaml", f"apiVersion: v2\nname: {name}\nversion: 1.0.0\n".encode())]
