"""Deployments after creation: reading them back, updating their counts (PATCH, the deprecated PUT),
graceful removal, deploying over an errored one, request-concurrency bounds, helmValidationPolicy."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.charts import naming
from conformance.client import Nonconformant, NvcfClient, Reply
from conformance.errors import ConformanceError
from conformance.plugin import ChartRef, DeployedFunction, Expect, Functions, params_of
from conformance.target.config import TargetConfig
from suites._helpers import identity_configuration, instance_parts

pytestmark = pytest.mark.case("minimal-http")

# Makes the mini-service exit at start (its ready delay must be a number): a container that never runs.
CRASHING = {"miniService": {"env": [{"name": "MINI_SERVICE_READY_DELAY", "value": "not-a-number"}]}}
EXTRA_TYPE = {"group": "nvcf-conformance.example.com", "version": "v1", "kind": "Probe"}
# Compared in any case: names NVCF reads case-insensitively (and may echo as registered).
CASELESS = ("gpu", "instanceType", "backend")


# ── reading a deployment back ───────────────────────────────────────────────────────────────────────

def _deployment(reply: Reply) -> dict[str, Any]:
    deployment = reply.expect(200).field("deployment")
    if not isinstance(deployment, dict):
        raise Nonconformant(f"{reply.method} {reply.url}: 'deployment' is not an object: {reply.text[:200]!r}",
                            "wrong-answer")
    return deployment


def _only_spec(deployment: dict[str, Any], where: str) -> dict[str, Any]:
    specs = deployment.get("deploymentSpecifications")
    if not isinstance(specs, list) or len(specs) != 1 or not isinstance(specs[0], dict):
        raise Nonconformant(f"{where}: expected the one specification sent, got deploymentSpecifications "
                            f"{specs!r}"[:300], "wrong-answer")
    return specs[0]


def _same(field: str, sent: Any, shown: Any) -> bool:
    if field in CASELESS and isinstance(sent, str) and isinstance(shown, str):
        return sent.strip().lower() == shown.strip().lower()
    if field == "clusters" and isinstance(sent, list) and isinstance(shown, list):
        return set(sent) == set(shown)
    return bool(sent == shown)


def _echo_problems(sent: dict[str, Any], shown: dict[str, Any]) -> list[str]:
    return [f"{field} is {shown.get(field)!r}, sent {value!r}" for field, value in sent.items()
            if not _same(field, value, shown.get(field))]


@pytest.mark.rule("DEPLOY-GET-ECHOES-SPEC")
def test_deployment_get_echoes_the_specification(functions: Functions, chart: ChartRef, nvcf: NvcfClient,
                                                 expect: Expect) -> None:
    function = functions.create(chart).expect(200, 201).field("function")
    fid, vid = str(function["id"]), str(function["versionId"])
    sent = functions.spec(chart, configuration=identity_configuration("echoed"), maxRequestConcurrency=2)
    functions.deploy(fid, vid, sent).expect(200, 201, 202)
    by_version = _deployment(nvcf.get_deployment(fid, vid))
    deployment_id = by_version.get("deploymentId")
    if not isinstance(deployment_id, str) or not deployment_id:
        raise Nonconformant(f"the deployment GET has no deploymentId: {by_version!r}"[:300], "wrong-answer")
    by_id = _deployment(nvcf.get_deployment_by_id(deployment_id))
    problems = [f"{how}: {problem}" for how, deployment in (("by version", by_version), ("by id", by_id))
                for problem in _echo_problems(sent, _only_spec(deployment, f"the deployment GET {how}"))]
    if problems:
        raise Nonconformant(f"the deployment GET does not answer the specification as sent: {'; '.join(problems)}",
                            "wrong-answer")
    expect.observed("http-2xx", f"deployment {deployment_id}: {', '.join(sent)} echoed by version and by id")


# ── updates ───────────────────────────────────────────────────────────────────────────────────────

def _spec_of(deployed: DeployedFunction, nvcf: NvcfClient) -> tuple[str, dict[str, Any]]:
    """The deployment id and the one specification of an ACTIVE deployment, as its GET answers them."""
    deployment = _deployment(nvcf.get_deployment(deployed.function_id, deployed.version_id))
    spec = _only_spec(deployment, "the deployment GET")
    deployment_id, spec_id = deployment.get("deploymentId"), spec.get("gpuSpecificationId")
    if not isinstance(deployment_id, str) or not isinstance(spec_id, str) or not deployment_id or not spec_id:
        raise Nonconformant(f"the deployment GET names no deploymentId or gpuSpecificationId to update it by: "
                            f"{deployment!r}"[:300], "wrong-answer")
    return deployment_id, spec


def _count(spec: dict[str, Any], field: str, default: int | None = None) -> int:
    value = spec.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Nonconformant(f"the deployment GET shows {field} {value!r}, not a number", "wrong-answer")
    return value


def _spec_now(deployed: DeployedFunction, nvcf: NvcfClient) -> dict[str, Any]:
    return _spec_of(deployed, nvcf)[1]


def _put_entry(spec: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A PUT entry for `spec`: its id, the counts, and backend/clusters as they are (NVIDIA compares them)."""
    entry = {"gpuSpecificationId": spec["gpuSpecificationId"], "minInstances": _count(spec, "minInstances"),
             "maxInstances": _count(spec, "maxInstances")}
    entry.update({k: spec[k] for k in ("backend", "clusters") if spec.get(k)})
    entry.update(changes)
    return entry


def _check_counts(deployed: DeployedFunction, nvcf: NvcfClient, how: str, reply: Reply,
                  wanted: dict[str, int]) -> str:
    reply.expect(200, 201, 202)
    shown = _spec_now(deployed, nvcf)
    wrong = {field: shown.get(field) for field, value in wanted.items() if shown.get(field) != value}
    if wrong:
        raise Nonconformant(f"{how} answered {reply.status_code}, but the deployment GET shows {wrong}, not {wanted}",
                            "wrong-answer")
    return f"{how} → {reply.status_code}; the GET shows {wanted}"


@pytest.mark.rule("DEPLOY-PATCH-UPDATES-COUNTS")
def test_patch_updates_the_counts(functions: Functions, chart: ChartRef, nvcf: NvcfClient, expect: Expect) -> None:
    deployed = functions.deployed(chart)
    deployment_id, spec = _spec_of(deployed, nvcf)
    wanted = {"maxInstances": _count(spec, "maxInstances") + 1}
    reply = nvcf.patch_gpu_specification(deployment_id, spec["gpuSpecificationId"], wanted)
    expect.observed("http-2xx", _check_counts(deployed, nvcf, "PATCH", reply, wanted))


@pytest.mark.rule("DEPLOY-PUT-UPDATES-COUNTS")
def test_put_updates_the_counts(functions: Functions, chart: ChartRef, nvcf: NvcfClient, expect: Expect) -> None:
    deployed = functions.deployed(chart)
    _, spec = _spec_of(deployed, nvcf)
    # NVCF's default concurrency is 1 when none was given.
    wanted = {"maxInstances": _count(spec, "maxInstances") + 1,
              "maxRequestConcurrency": _count(spec, "maxRequestConcurrency", 1) + 1}
    reply = nvcf.update_deployment(deployed.function_id, deployed.version_id, [_put_entry(spec, **wanted)])
    expect.observed("http-2xx", _check_counts(deployed, nvcf, "PUT", reply, wanted))


def _other_value(field: str, spec: dict[str, Any], target: TargetConfig) -> str:
    """Another gpu (one the backend offers, when it offers several), instance type or backend."""
    current = str(spec.get("gpu", "")).lower()
    others = [s.gpu for s in target.gpu_shapes if s.gpu.lower() != current]
    gpu = others[0] if others else "NVCFC-OTHER-GPU"
    if field == "gpu":
        return gpu
    if field == "instanceType":
        return f"{instance_parts(target)['csp']}.GPU.{gpu}_1x"
    return "nvcfc-other-backend"


def _fixed_field_kept(deployed: DeployedFunction, nvcf: NvcfClient, field: str, original: Any, how: str,
                      reply: Reply) -> tuple[str, str]:
    """(outcome, detail): refused, or accepted with the field unchanged; anything else FAILs."""
    if reply.status_code == 400:
        return "http-400", reply.describe()
    if not reply.ok:
        raise Nonconformant(f"{how} naming another {field}: expected 400 or 2xx, got {reply.describe()}",
                            "unexpected-http-status")
    shown = _spec_now(deployed, nvcf).get(field)
    if not _same(field, original, shown):
        raise Nonconformant(f"{how} changed the deployment's {field} from {original!r} to {shown!r}, which an "
                            "update cannot change", "deployed-violating")
    return "http-2xx", f"{how} → {reply.status_code}; {field} still {shown!r}"


@pytest.mark.rule("DEPLOY-PATCH-FIXED-FIELDS")
@pytest.mark.parametrize("param", params_of("DEPLOY-PATCH-FIXED-FIELDS"))
def test_patch_keeps_fixed_fields(param: str, functions: Functions, chart: ChartRef, nvcf: NvcfClient,
                                  target: TargetConfig, expect: Expect) -> None:
    deployed = functions.deployed(chart)
    deployment_id, spec = _spec_of(deployed, nvcf)
    # With a count beside it, so the update is not refused for naming nothing to change.
    changes = {"maxInstances": _count(spec, "maxInstances") + 1, param: _other_value(param, spec, target)}
    reply = nvcf.patch_gpu_specification(deployment_id, spec["gpuSpecificationId"], changes)
    expect.observed(*_fixed_field_kept(deployed, nvcf, param, spec.get(param), "PATCH", reply))


@pytest.mark.rule("DEPLOY-PUT-FIXED-FIELDS")
@pytest.mark.parametrize("param", params_of("DEPLOY-PUT-FIXED-FIELDS"))
def test_put_keeps_fixed_fields(param: str, functions: Functions, chart: ChartRef, nvcf: NvcfClient,
                                target: TargetConfig, expect: Expect) -> None:
    deployed = functions.deployed(chart)
    _, spec = _spec_of(deployed, nvcf)
    entry = _put_entry(spec, maxInstances=_count(spec, "maxInstances") + 1, **{param: _other_value(param, spec,
                                                                                                   target)})
    reply = nvcf.update_deployment(deployed.function_id, deployed.version_id, [entry])
    expect.observed(*_fixed_field_kept(deployed, nvcf, param, spec.get(param), "PUT", reply))


# ── removal and redeployment ──────────────────────────────────────────────────────────────────────

@pytest.mark.rule("DEPLOY-DELETE-GRACEFUL")
def test_graceful_removal_returns_to_inactive(functions: Functions, chart: ChartRef, nvcf: NvcfClient,
                                              expect: Expect) -> None:
    deployed = functions.deployed(chart)
    reply = nvcf.delete_deployment(deployed.function_id, deployed.version_id, graceful=True)
    if not reply.ok:
        raise Nonconformant(f"removing an ACTIVE deployment with graceful=true: {reply.describe()}",
                            "unexpected-http-status")
    try:
        watch = functions.wait(deployed.function_id, deployed.version_id, {"INACTIVE"}, "timeouts.undeploy")
    except ConformanceError as exc:
        raise Nonconformant(f"graceful removal answered {reply.status_code}, but: {exc}", "timed-out") from None
    expect.observed("lifecycle-as-documented", f"ACTIVE → DELETE ?graceful=true {reply.status_code} → "
                                               f"{' → '.join(watch.history)}")


def _errored(functions: Functions, chart: ChartRef, nvcf: NvcfClient) -> tuple[str, str]:
    """A version whose deployment ended in ERROR: its mini-service exits at start."""
    function = functions.create(chart).expect(200, 201).field("function")
    fid, vid = str(function["id"]), str(function["versionId"])
    deploy = functions.deploy(fid, vid, functions.spec(chart, configuration=CRASHING))
    if not deploy.ok:
        raise ConformanceError(f"the deployment meant to end in ERROR was refused ({deploy.describe()}), so "
                               "deploying over an errored one cannot be tried here")
    watch = functions.wait(fid, vid, {"ACTIVE", "ERROR"}, "timeouts.deploy_error")
    if watch.final != "ERROR":
        raise ConformanceError(f"a mini-service that exits at start went {' → '.join(watch.history)} instead of "
                               "ERROR, so deploying over an errored deployment cannot be tried here")
    return fid, vid


@pytest.mark.rule("DEPLOY-OVER-ERROR-REFUSED")
def test_deploying_over_an_error_refused(functions: Functions, chart: ChartRef, nvcf: NvcfClient,
                                         expect: Expect) -> None:
    fid, vid = _errored(functions, chart, nvcf)
    expect.status(functions.deploy(fid, vid, functions.spec(chart)), 400)


@pytest.mark.rule("DEPLOY-MAX-CONCURRENCY-BOUNDS")
@pytest.mark.parametrize("param", params_of("DEPLOY-MAX-CONCURRENCY-BOUNDS"))
def test_max_request_concurrency_bounds(param: str, functions: Functions, chart: ChartRef, expect: Expect) -> None:
    function = functions.create(chart).expect(200, 201).field("function")
    value = {"zero": 0, "above-16384": 16385}[param]
    spec = functions.spec(chart, maxRequestConcurrency=value)
    expect.status(functions.deploy(str(function["id"]), str(function["versionId"]), spec), 400)


# ── helmValidationPolicy ──────────────────────────────────────────────────────────────────────────

def _container_function(functions: Functions, chart: ChartRef, nvcf: NvcfClient) -> tuple[str, str]:
    """A container-based function running the mini-service image from the run's registry (never deployed)."""
    image = naming.probe_image(nvcf.target.registry_address)
    if image is None:
        raise ConformanceError("no registry is configured, so no container image can be named (registry.address)")
    name = functions.name("container")
    body = {"name": name, "inferenceUrl": chart.inference_url, "inferencePort": chart.inference_port,
            "containerImage": image, "apiBodyFormat": "CUSTOM", "description": "nvcf-conformance container function"}
    reply = nvcf.create_function(body)
    functions.track(reply, name)
    if not reply.ok:
        raise ConformanceError(f"a container-based function could not be created ({reply.describe()}), so a "
                               "helmValidationPolicy on one cannot be tried here")
    function = reply.field("function")
    return str(function["id"]), str(function["versionId"])


@pytest.mark.rule("DEPLOY-HELM-POLICY-VALIDATED")
@pytest.mark.parametrize("param", params_of("DEPLOY-HELM-POLICY-VALIDATED"))
def test_helm_policy_validated(param: str, functions: Functions, chart: ChartRef, nvcf: NvcfClient,
                               expect: Expect) -> None:
    policy: dict[str, Any] = {
        "unknown-name": {"name": "NvcfConformanceStrict"},
        "no-name": {"extraKubernetesTypes": [EXTRA_TYPE]},
        "empty-extra-types": {"name": "Default", "extraKubernetesTypes": []},
        "container-function": {"name": "Default"},
    }[param]
    if param == "container-function":
        fid, vid = _container_function(functions, chart, nvcf)
    else:
        function = functions.create(chart).expect(200, 201).field("function")
        fid, vid = str(function["id"]), str(function["versionId"])
    expect.status(functions.deploy(fid, vid, functions.spec(chart, helmValidationPolicy=policy)), 400)


@pytest.mark.rule("DEPLOY-HELM-POLICY-KEPT")
def test_helm_policy_kept(functions: Functions, chart: ChartRef, nvcf: NvcfClient, expect: Expect) -> None:
    function = functions.create(chart).expect(200, 201).field("function")
    fid, vid = str(function["id"]), str(function["versionId"])
    policy = {"name": "Default", "extraKubernetesTypes": [EXTRA_TYPE]}
    functions.deploy(fid, vid, functions.spec(chart, helmValidationPolicy=policy)).expect(200, 201, 202)
    shown = _only_spec(_deployment(nvcf.get_deployment(fid, vid)), "the deployment GET").get("helmValidationPolicy")
    name = shown.get("name") if isinstance(shown, dict) else None
    types = shown.get("extraKubernetesTypes") if isinstance(shown, dict) else None
    if not isinstance(name, str) or name.lower() != "default" or types != [EXTRA_TYPE]:
        raise Nonconformant(f"the deployment GET shows helmValidationPolicy {shown!r}, sent {policy!r}",
                            "wrong-answer")
    expect.observed("http-2xx", f"helmValidationPolicy {shown} answered back")
