"""The rules between fields of a request: what makes a function or a deployment acceptable.

Each check adds one sentence naming the field; all of them are reported together in one 400, so a
user fixes a request in one round trip. Messages say what NVCF's validator says, in our words.

With `refusal_texts="nvidia"` the two refusals NVIDIA's API makes outside bean validation come
after the field checks, alone and in NVIDIA's words (nv-boot's BadRequestException, whose problem
`type` is a URN): the chart URL at creation (`RegistryCredentialFunctionService.getHelmRegistryHostname`)
and an unknown instance type at deployment (`DeploymentValidationService`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from reference import rules
from reference.config import Behaviour, ChartReferences
from reference.models import (
    HEALTH_FIELDS,
    HELM_POLICY_NAMES,
    INSTANCE_TYPE_PATTERN,
    NAME_PATTERN,
    CreateFunctionRequest,
    DeploymentRequest,
    GpuSpecification,
    GpuSpecificationUpdate,
    HelmValidationPolicy,
    UpdateDeploymentRequest,
)
from reference.ports import Deployment, DeploymentSpec, FunctionVersion
from reference.problems import NVIDIA_BAD_REQUEST, Problem

NAME_RE = re.compile(NAME_PATTERN)
INSTANCE_TYPE_RE = re.compile(INSTANCE_TYPE_PATTERN)
# PnDTnHnMnS with at least one component; NVCF parses health timeouts as java.time.Duration.
DURATION_RE = re.compile(r"^P(?=\d|T\d)(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?$")
DEFAULT_INFERENCE_PORT = 8000
DEFAULT_HEALTH_URI = "/v2/health/ready"
DEFAULT_HEALTH_TIMEOUT = "PT10S"
MAX_REQUEST_CONCURRENCY = 16384

DEFAULT_CSP = "ON-PREM"
# The port the FN-INFERENCE-PORT-DEFAULT mutant falls back to (one NVCF reserves, so nothing serves there).
MUTANT_INFERENCE_PORT = 8080
# A deployment can be updated while it is up or on its way (NVCF's BUSY_STATUSES).
UPDATABLE_STATUSES = ("ACTIVE", "DEPLOYING", "DEGRADING", "DEGRADED")
# The schemes NVIDIA's API takes at function creation (case-insensitive); its validator later takes
# only https and oci, at deployment.
NVIDIA_CREATION_SCHEMES = ("http", "https", "oci")
# java.net.URI's server-based host: labels of letters, digits and '-', the last starting with a letter.
_JAVA_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_JAVA_HOST = re.compile(rf"^(?:{_JAVA_LABEL}\.)*[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def _given(value: Any) -> bool:
    """A field counts as specified when it carries something: None, blank strings and [] do not."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | dict):
        return bool(value)
    return True


def is_grpc_url(inference_url: str, violations: Collection[str] = frozenset()) -> bool:
    # The docs write `/gRPC`, NVIDIA's code compares with `/grpc`: accept any case.
    if rules.GRPC_URL_MARKS_FUNCTION in violations:
        # NVIDIA's FunctionMapperService: `inferenceUrl.toString().equals("/grpc")`, nothing else.
        return inference_url == "/grpc"
    if rules.GRPC_URL_LOWERCASE in violations:
        return inference_url.strip().rstrip("/") == "/gRPC"
    return inference_url.strip().rstrip("/").lower() == "/grpc"


def refuse(issues: list[str]) -> None:
    if issues:
        raise Problem(400, "Invalid request: " + "; ".join(issues), validation=True)


def nvidia_refusal(detail: str) -> Problem:
    """A 400 as NVIDIA's API sends one for a BadRequestException (not a bean-validation failure)."""
    return Problem(400, detail, type_=NVIDIA_BAD_REQUEST)


def _check_port(issues: list[str], field: str, port: int | None) -> None:
    if port is not None and not 1 <= port <= 65535:
        issues.append(f"'{field}' must be a TCP port between 1 and 65535")


def _check_chart_url(issues: list[str], url: str, violations: Collection[str],
                     references: ChartReferences = "documented") -> None:
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        issues.append("'helmChart' is not a valid URL")
        return
    # The URL is not echoed: it may carry registry credentials in its user-info part.
    allowed = {"oci", "https", *(("http",) if rules.CHART_REF_HTTP_REFUSED in violations else ())}
    if references == "helm":
        # NVIDIA's API takes http too at creation; its validator refuses it at deployment.
        allowed.update(NVIDIA_CREATION_SCHEMES)
    if rules.CHART_REF_SCHEME_REFUSED in violations:
        allowed.add(parts.scheme.lower())
    if parts.scheme.lower() not in allowed:
        shown = f"'{parts.scheme}'" if parts.scheme else "none"
        issues.append(f"'helmChart' must use the oci or https scheme (got {shown})")
    elif not host:
        issues.append("'helmChart' must name a registry host (oci://REGISTRY/REPOSITORY/charts/NAME-X.Y.Z.tgz)")


def nvidia_registry_url_problem(url: str) -> str | None:
    """What NVIDIA's API answers for `helmChart` at function creation; None when it takes the URL.

    `java.net.URI.create` parses it (a ':' before any '/', '?' or '#' ends a scheme, which starts with
    a letter), then the scheme must be http, https or oci in any case and the URI must have a host.
    Only the URI errors a chart URL plausibly meets are reproduced: scheme characters and the host.
    """
    cut = min((i for i in (url.find(c) for c in "/?#") if i >= 0), default=len(url))
    colon = url.find(":")
    scheme = ""
    if 0 <= colon < cut:
        if colon == 0:
            return f"Expected scheme name at index 0: {url}"
        for index, char in enumerate(url[:colon]):
            ok = char.isascii() and (char.isalpha() if index == 0 else char.isalnum() or char in "+-.")
            if not ok:
                return f"Illegal character in scheme name at index {index}: {url}"
        scheme = url[:colon]
    if scheme.lower() not in NVIDIA_CREATION_SCHEMES:
        return f"Invalid registry URL: {url}"
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    if not (_IPV4.match(host) or _JAVA_HOST.match(host) or (":" in host and urlsplit(url).netloc.startswith("["))):
        return f"Invalid registry URL: {url}"
    return None


def nvidia_invalid_instance_type(function: FunctionVersion, instance_type: str) -> str:
    """NVIDIA's refusal of an instance type not registered for the GPU (`DeploymentValidationService`)."""
    return (f"Function id '{function.function_id}', version '{function.version_id}': "
            f"Invalid InstanceType '{instance_type}' specified")


def function_version(req: CreateFunctionRequest, function_id: str, version_id: str,
                     violations: Collection[str] = frozenset(), behaviour: Behaviour | None = None
                     ) -> FunctionVersion:
    """Check a create-function request and fill in NVCF's defaults; 400 problem when it breaks a rule."""
    behaviour = behaviour or Behaviour()
    nvidia = behaviour.refusal_texts == "nvidia"
    issues: list[str] = []
    name = req.name
    if not _given(name):
        issues.append("'name' is required and must not be empty")
    elif name is not None and len(name) > 128:
        issues.append("'name' must be at most 128 characters long")
    elif name is not None and not NAME_RE.match(name) and rules.FN_NAME_INVALID_REFUSED not in violations:
        issues.append(
            f"'name' must match {NAME_PATTERN}: start with a letter or digit, then letters, digits, '-' or '_'"
        )
    elif name is not None and rules.FN_NAME_VALID_ACCEPTED in violations and name != name.lower():
        issues.append("'name' must be lower case")
    inference_url = (req.inferenceUrl or "").strip()
    written_as_the_page = (req.inferenceURL or "").strip()
    if written_as_the_page and behaviour.page_examples and rules.DOC_EXAMPLE_GRPC_NOTE not in violations:
        if inference_url and inference_url != written_as_the_page:
            issues.append("'inferenceUrl' and 'inferenceURL' (the docs' spelling of the same key) disagree")
        inference_url = inference_url or written_as_the_page
    if not inference_url:
        issues.append("'inferenceUrl' is required")
    elif not inference_url.startswith("/") and rules.DOC_EXAMPLE_CREATE_BODY in violations:
        issues.append("'inferenceUrl' must start with '/'")
    elif any(ch.isspace() or ord(ch) < 32 for ch in inference_url):
        issues.append("'inferenceUrl' must be a URI path without spaces or control characters")
    _check_port(issues, "inferencePort", req.inferencePort)

    has_chart, has_service = _given(req.helmChart), _given(req.helmChartServiceName)
    if has_chart != has_service and rules.FN_HELM_FIELDS_PAIRED not in violations:
        issues.append("'helmChart' and 'helmChartServiceName' go together: give both or neither")
    if has_chart:
        for field in ("containerImage", "containerArgs", "containerEnvironment"):
            if _given(getattr(req, field)) and rules.FN_HELM_NO_CONTAINER_FIELDS not in violations:
                issues.append(
                    f"'helmChart' cannot be combined with '{field}': a helm-based function gets its "
                    "containers from the chart"
                )
        if not nvidia:
            _check_chart_url(issues, req.helmChart or "", violations, behaviour.chart_references)
    paired_alone = rules.FN_HELM_FIELDS_PAIRED in violations and has_service
    if not (_given(req.containerImage) or _given(req.models) or has_chart or paired_alone):
        issues.append("one of 'containerImage', 'models' or 'helmChart' is required")

    port = req.inferencePort if req.inferencePort is not None else _default_inference_port(violations)
    given_health = _health_given(req, inference_url, port, violations)
    if given_health is not None:
        _check_health(issues, given_health)
    for index, env in enumerate(req.containerEnvironment or []):
        if not env.key.strip():
            issues.append(f"'containerEnvironment[{index}].key' must not be empty")
    secret_names = [s.name for s in req.secrets or []]
    if any(not n.strip() for n in secret_names):
        issues.append("every entry of 'secrets' needs a non-empty 'name'")
    if len(set(secret_names)) != len(secret_names):
        issues.append("'secrets' names must be unique")
    refuse(issues)
    if nvidia and has_chart:
        # After bean validation, as NVIDIA's FunctionManagementService checks the registry.
        problem = _nvidia_chart_url_problem((req.helmChart or "").strip(), violations, behaviour)
        if problem:
            raise nvidia_refusal(problem)

    default_health = {
        "protocol": "gRPC" if is_grpc_url(inference_url, violations) else "HTTP",
        "uri": req.healthUri or DEFAULT_HEALTH_URI,
        "port": port,
        "timeout": DEFAULT_HEALTH_TIMEOUT,
        "expectedStatusCode": 200,
    }
    # A given health object decides the check that gates ACTIVE; the mutant checks the default instead.
    health = (given_health if given_health is not None and rules.FN_HEALTH_GATES_ACTIVE not in violations
              else default_health)
    normalised = req.model_dump(exclude_none=True)
    normalised.update({
        "inferenceUrl": inference_url, "inferencePort": port, "health": health,
        "apiBodyFormat": req.apiBodyFormat or "CUSTOM", "functionType": req.functionType or "DEFAULT",
    })
    return FunctionVersion(
        function_id=function_id,
        version_id=version_id,
        name=name or "",
        inference_url=inference_url,
        inference_port=port,
        health=health,
        helm_chart=req.helmChart.strip() if has_chart and req.helmChart else None,
        helm_chart_service_name=req.helmChartServiceName if has_service else None,
        container_image=req.containerImage if _given(req.containerImage) else None,
        request=normalised,
    )


def _default_inference_port(violations: Collection[str]) -> int:
    return MUTANT_INFERENCE_PORT if rules.FN_INFERENCE_PORT_DEFAULT in violations else DEFAULT_INFERENCE_PORT


def _health_given(req: CreateFunctionRequest, inference_url: str, port: int, violations: Collection[str]
                  ) -> dict[str, Any] | None:
    """The request's health object as a dict; a field left out stays None (refused later), except for
    the FN-HEALTH-FIELDS-REQUIRED mutant, which fills it with the default NVCF would have used."""
    if req.health is None:
        return None
    given = req.health.model_dump()
    if rules.FN_HEALTH_FIELDS_REQUIRED in violations:
        defaults = {"protocol": "gRPC" if is_grpc_url(inference_url, violations) else "HTTP",
                    "uri": DEFAULT_HEALTH_URI, "port": port, "timeout": DEFAULT_HEALTH_TIMEOUT,
                    "expectedStatusCode": 200}
        given = {k: defaults[k] if v is None else v for k, v in given.items()}
    return given


def _check_health(issues: list[str], health: dict[str, Any]) -> None:
    """Every field of a given `health` is required (NVCF's HealthDto is @NotNull throughout)."""
    missing = [name for name in HEALTH_FIELDS if health.get(name) is None]
    for name in missing:
        issues.append(f"'health.{name}' is required when 'health' is given")
    if health.get("port") is not None:
        _check_port(issues, "health.port", health["port"])
    if health.get("uri") is not None and not str(health["uri"]).strip():
        issues.append("'health.uri' must not be empty")
    if health.get("timeout") is not None and not DURATION_RE.match(str(health["timeout"])):
        issues.append("'health.timeout' must be an ISO-8601 duration such as PT10S")
    code = health.get("expectedStatusCode")
    if code is not None and not 100 <= code <= 599:
        issues.append("'health.expectedStatusCode' must be an HTTP status code (100-599)")


def _nvidia_chart_url_problem(url: str, violations: Collection[str], behaviour: Behaviour) -> str | None:
    """NVIDIA's creation-time URL check, or, reading the documented form, this server's (in NVIDIA's words)."""
    if rules.CHART_REF_SCHEME_REFUSED in violations:
        return None  # the mutant takes any scheme, whoever words the refusals
    problem = nvidia_registry_url_problem(url)
    if problem or behaviour.chart_references == "helm":
        return problem
    ours: list[str] = []
    _check_chart_url(ours, url, violations)
    return f"Invalid registry URL: {url}" if ours else None


def _instance_type_issue(spec: GpuSpecification, where: str, violations: Collection[str]) -> str | None:
    """Why this server does not know the spec's instance type (None: it does, or none is given)."""
    instance_type = (spec.instanceType or "").strip()
    if not instance_type:
        return None
    match = INSTANCE_TYPE_RE.match(instance_type)
    if match is None:
        if rules.ITYPE_MALFORMED_REFUSED in violations:
            return None
        return (f"'{where}.instanceType' value '{instance_type}' does not follow "
                "<CSP>.GPU.<GPU>_<GPUs per node>x[.x<nodes>] (e.g. DGXC.GPU.L40S_1x, ON-PREM.GPU.B200_8x.x2)")
    if _given(spec.gpu):
        gpu_part = instance_type.split(".GPU.", 1)[1].rsplit("_", 1)[0]
        if gpu_part.lower() != (spec.gpu or "").strip().lower():
            return (f"'{where}.instanceType' '{instance_type}' is an instance of GPU '{gpu_part}', "
                    f"not of the requested gpu '{(spec.gpu or '').strip()}'")
    return None


def _spec_issues(spec: GpuSpecification, where: str, function: FunctionVersion,
                 violations: Collection[str], *, with_instance_type: bool = True) -> list[str]:
    """The issues of one GPU specification (the instance type's only `with_instance_type`)."""
    issues: list[str] = []
    if not _given(spec.gpu):
        issues.append(f"'{where}.gpu' is required and must not be blank")
    if not (spec.instanceType or "").strip():
        issues.append(f"'{where}.instanceType' is required and must not be blank")
    elif with_instance_type and (unknown := _instance_type_issue(spec, where, violations)):
        issues.append(unknown)
    if spec.maxInstances is None:
        issues.append(f"'{where}.maxInstances' is required")
    elif spec.maxInstances < 1:
        issues.append(f"'{where}.maxInstances' must be at least 1")
    if spec.minInstances is None:
        issues.append(f"'{where}.minInstances' is required")
    elif spec.minInstances < 0:
        issues.append(f"'{where}.minInstances' must not be negative")
    if (spec.minInstances is not None and spec.maxInstances is not None
            and spec.minInstances > spec.maxInstances and rules.DEPLOY_MIN_LE_MAX not in violations):
        issues.append(f"'{where}.minInstances' must be less than or equal to 'maxInstances'")
    _check_concurrency(issues, where, spec.maxRequestConcurrency, violations)
    if spec.helmValidationPolicy is not None and rules.DEPLOY_HELM_POLICY_VALIDATED not in violations:
        issues.extend(_helm_policy_issues(spec.helmValidationPolicy, f"{where}.helmValidationPolicy"))
    if spec.preferredOrder is not None and not 1 <= spec.preferredOrder <= 99:
        issues.append(f"'{where}.preferredOrder' must be between 1 and 99")
    if _given(spec.backend) and _given(spec.clusters):
        issues.append(f"'{where}': give 'backend' or 'clusters', not both")
    if not function.is_helm:
        ids = f"function {function.function_id} version {function.version_id}"
        if spec.configuration is not None:
            issues.append(
                f"'{where}.configuration' is only for helm-based functions; {ids} is container based"
            )
        if spec.helmValidationPolicy is not None:
            issues.append(
                f"'{where}.helmValidationPolicy' is only for helm-based functions; {ids} is container based"
            )
    return issues


def _check_concurrency(issues: list[str], where: str, value: int | None, violations: Collection[str]) -> None:
    if (value is not None and not 1 <= value <= MAX_REQUEST_CONCURRENCY
            and rules.DEPLOY_MAX_CONCURRENCY_BOUNDS not in violations):
        issues.append(f"'{where}.maxRequestConcurrency' must be between 1 and {MAX_REQUEST_CONCURRENCY}")


def _helm_policy_issues(policy: HelmValidationPolicy, where: str) -> list[str]:
    """NVCF's HelmValidationPolicyDto: a name it knows (its enum, read in any case) and, when
    `extraKubernetesTypes` is given, at least one entry, each with a group, version and kind."""
    issues: list[str] = []
    names = " or ".join(HELM_POLICY_NAMES)
    if policy.name is None or not policy.name.strip():
        issues.append(f"'{where}.name' is required ({names})")
    elif policy.name.strip().lower() not in {n.lower() for n in HELM_POLICY_NAMES}:
        issues.append(f"'{where}.name' must be {names}, not '{policy.name}'")
    if policy.extraKubernetesTypes is not None and not policy.extraKubernetesTypes:
        issues.append(f"'{where}.extraKubernetesTypes' must list at least one type when given")
    for index, kube_type in enumerate(policy.extraKubernetesTypes or []):
        for field in ("group", "version", "kind"):
            if not getattr(kube_type, field).strip():
                issues.append(f"'{where}.extraKubernetesTypes[{index}].{field}' must not be blank")
    return issues


def canonical_policy_name(name: str) -> str:
    """`default` → `Default`: the policy name as NVCF's enum spells it."""
    return next((n for n in HELM_POLICY_NAMES if n.lower() == name.strip().lower()), name)


def deployment(req: DeploymentRequest, function: FunctionVersion, deployment_id: str,
               violations: Collection[str] = frozenset(), behaviour: Behaviour | None = None) -> Deployment:
    specs = req.deploymentSpecifications or []
    if not specs:
        refuse(["'deploymentSpecifications' must list at least one GPU specification"])
    behaviour = behaviour or Behaviour()
    if behaviour.page_examples and rules.DOC_EXAMPLE_DEPLOY_BODY not in violations:
        # The page's override example has no instanceType: one GPU of the specification's gpu.
        for spec in specs:
            if not _given(spec.instanceType) and _given(spec.gpu):
                spec.instanceType = f"{DEFAULT_CSP}.GPU.{(spec.gpu or '').strip()}_1x"
    nvidia = behaviour.refusal_texts == "nvidia"
    issues: list[str] = []
    for index, spec in enumerate(specs):
        issues.extend(_spec_issues(spec, f"deploymentSpecifications[{index}]", function, violations,
                                   with_instance_type=not nvidia))
    refuse(issues)
    for index, spec in enumerate(specs):
        # After bean validation, NVIDIA's DeploymentValidationService refuses the first spec whose
        # instance type it does not know.
        if nvidia and _instance_type_issue(spec, f"deploymentSpecifications[{index}]", violations):
            raise nvidia_refusal(nvidia_invalid_instance_type(function, (spec.instanceType or "").strip()))
    accepted = []
    for spec in specs:
        raw = spec.model_dump(exclude_none=True)
        # The server names each specification; PATCH .../gpu-specifications/{id} addresses it by this id.
        raw["gpuSpecificationId"] = str(uuid.uuid4())
        raw["gpu"] = (spec.gpu or "").strip()
        raw["instanceType"] = (spec.instanceType or "").strip()
        # Recorded and answered back; like NVCF's API, the chart checks do not read it (see README).
        policy = raw.pop("helmValidationPolicy", None) if rules.DEPLOY_HELM_POLICY_KEPT in violations else (
            raw.get("helmValidationPolicy"))
        if isinstance(policy, dict) and isinstance(policy.get("name"), str):
            policy["name"] = canonical_policy_name(policy["name"])
        accepted.append(DeploymentSpec(
            gpu=raw["gpu"], instance_type=raw["instanceType"], min_instances=raw["minInstances"],
            max_instances=raw["maxInstances"], configuration=spec.configuration, raw=raw,
        ))
    return Deployment(deployment_id, function.function_id, function.version_id, tuple(accepted))


# ── deployment updates: PUT (deprecated) and PATCH .../gpu-specifications/{id} ──────────────────────
# Only the counts change; gpu, instanceType, backend and clusters stay what the deployment was created
# with (a new version or a new deployment changes them).
_FIXED_FIELDS = ("gpu", "instanceType", "backend", "clusters")


def check_updatable(function: FunctionVersion, status: str, behaviour: Behaviour) -> None:
    """A deployment is updated while it is up or on its way (NVCF's BUSY_STATUSES), never after ERROR."""
    if status in UPDATABLE_STATUSES:
        return
    if behaviour.refusal_texts == "nvidia":
        raise nvidia_refusal(f"Function id '{function.function_id}', version '{function.version_id}': "
                             f"Invalid status '{status}'")
    raise Problem(400, f"Invalid request: function {function.function_id} version {function.version_id} is "
                       f"{status}; only a deployment that is {', '.join(UPDATABLE_STATUSES)} can be updated")


def _count_issues(where: str, min_instances: int | None, max_instances: int | None, concurrency: int | None,
                  violations: Collection[str]) -> list[str]:
    issues: list[str] = []
    if max_instances is not None and max_instances < 1:
        issues.append(f"'{where}.maxInstances' must be at least 1")
    if min_instances is not None and min_instances < 0:
        issues.append(f"'{where}.minInstances' must not be negative")
    if (min_instances is not None and max_instances is not None and min_instances > max_instances
            and rules.DEPLOY_MIN_LE_MAX not in violations):
        issues.append(f"'{where}.minInstances' must be less than or equal to 'maxInstances'")
    _check_concurrency(issues, where, concurrency, violations)
    return issues


def _fixed_value(field: str, value: Any) -> Any:
    """How a fixed field compares: names in any case, clusters as a set, blank as absent."""
    if field == "clusters":
        return frozenset(c.strip() for c in value or [] if c.strip())
    return (value or "").strip().lower() if isinstance(value, str) or value is None else value


def _fixed_changes(update: Any, raw: dict[str, Any], fields: tuple[str, ...], *, given_only: bool
                   ) -> list[tuple[str, Any]]:
    """(field, new value) for each fixed field the update sets to something else than the deployment has.

    `given_only`: a field left out of the update is no change (the reference); otherwise it must still
    match (NVIDIA's PUT compares backend and clusters as sent, blank with blank)."""
    changes = []
    for field in fields:
        value = getattr(update, field)
        if given_only and not _given(value):
            continue
        if _fixed_value(field, value) != _fixed_value(field, raw.get(field)):
            changes.append((field, value))
    return changes


def _refuse_fixed(changes: list[tuple[str, Any]], where: str, raw: dict[str, Any], function: FunctionVersion,
                  nvidia: bool) -> None:
    if not changes:
        return
    if nvidia:
        field, value = changes[0]
        ids = f"Function id '{function.function_id}', version '{function.version_id}'"
        if field == "clusters":
            raise nvidia_refusal(f"{ids}: Provided clusters: '{sorted(value or [])}' does not match clusters "
                                 f"from original spec: '{sorted(raw.get('clusters') or [])}'")
        raise nvidia_refusal(f"{ids}: Backend '{value or ''}' field does not match original deployment spec: "
                             f"'{raw.get('backend')}'.")
    refuse([f"'{where}.{field}' cannot be changed by an update (the deployment has "
            f"{raw.get(field)!r}, the update asks for {value!r}); create a new deployment to change it"
            for field, value in changes])


def _apply_counts(raw: dict[str, Any], min_instances: int | None, max_instances: int | None,
                  concurrency: int | None) -> None:
    if min_instances is not None:
        raw["minInstances"] = min_instances
    if max_instances is not None:
        raw["maxInstances"] = max_instances
    if concurrency is not None:
        raw["maxRequestConcurrency"] = concurrency


def updated_specifications(req: UpdateDeploymentRequest, current: list[dict[str, Any]], function: FunctionVersion,
                           violations: Collection[str] = frozenset(), behaviour: Behaviour | None = None
                           ) -> list[dict[str, Any]]:
    """The deployment's specifications after a PUT: each named one (by gpuSpecificationId, or the only
    one) takes the new minInstances, maxInstances and maxRequestConcurrency; a change of anything else
    is refused (or, as NVIDIA's API, gpu and instanceType are ignored)."""
    behaviour = behaviour or Behaviour()
    nvidia = behaviour.refusal_texts == "nvidia"
    updates = req.deploymentSpecifications or []
    if not updates:
        refuse(["'deploymentSpecifications' must list the deployment's GPU specifications with their new counts"])
    issues: list[str] = []
    for index, update in enumerate(updates):
        where = f"deploymentSpecifications[{index}]"
        for field in ("maxInstances", "minInstances"):
            if getattr(update, field) is None:
                issues.append(f"'{where}.{field}' is required")
        issues += _count_issues(where, update.minInstances, update.maxInstances, update.maxRequestConcurrency,
                                violations)
    refuse(issues)
    if len(updates) != len(current):
        refuse([f"'deploymentSpecifications' must list each of the deployment's {len(current)} GPU "
                f"specification(s), not {len(updates)}"])
    if len(updates) > 1 and any(not _given(u.gpuSpecificationId) for u in updates):
        refuse(["'deploymentSpecifications': the deployment has several GPU specifications, so each entry "
                "must name its gpuSpecificationId"])
    new = [dict(raw) for raw in current]
    ignored = behaviour.update_fixed_fields == "ignored"
    for index, update in enumerate(updates):
        where = f"deploymentSpecifications[{index}]"
        at = _spec_index(new, update.gpuSpecificationId)
        if at is None:
            raise Problem(400, f"Invalid request: '{where}.gpuSpecificationId' {update.gpuSpecificationId!r} is "
                               "not a specification of this deployment", validation=True)
        raw = new[at]
        # NVIDIA's PUT reads gpu and instanceType as read-only and compares backend and clusters as sent.
        fields = ("backend", "clusters") if ignored else _FIXED_FIELDS
        changes = _fixed_changes(update, raw, fields, given_only=not ignored)
        if rules.DEPLOY_PUT_FIXED_FIELDS in violations:
            for field, value in _fixed_changes(update, raw, _FIXED_FIELDS, given_only=True):
                raw[field] = value
        else:
            _refuse_fixed(changes, where, raw, function, nvidia and ignored)
        _apply_counts(raw, update.minInstances, update.maxInstances, update.maxRequestConcurrency)
    return new


def _spec_index(specs: list[dict[str, Any]], spec_id: str | None) -> int | None:
    if not _given(spec_id):
        return 0 if specs else None
    return next((i for i, raw in enumerate(specs) if str(raw.get("gpuSpecificationId")) == str(spec_id).strip()),
                None)


def patched_specification(req: GpuSpecificationUpdate, raw: dict[str, Any], function: FunctionVersion,
                          violations: Collection[str] = frozenset(), behaviour: Behaviour | None = None
                          ) -> dict[str, Any]:
    """One specification after `PATCH .../gpu-specifications/{id}`: new counts (and autoscaling), the
    rest as it was; naming another gpu, instanceType, backend or clusters is refused (or, as NVIDIA's
    API, ignored with everything else but the counts and autoscaling)."""
    behaviour = behaviour or Behaviour()
    ignored = behaviour.update_fixed_fields == "ignored"
    concurrency = None if ignored else req.maxRequestConcurrency
    if (req.minInstances is None and req.maxInstances is None and concurrency is None
            and req.autoscalingConfiguration is None and req.autoscalingConfigurationPolicy is None):
        if behaviour.refusal_texts == "nvidia":
            raise nvidia_refusal(f"Function id '{function.function_id}', version '{function.version_id}': Empty "
                                 "update gpu specification request. At least one field should be provided.")
        refuse(["the update names nothing to change: give minInstances, maxInstances, maxRequestConcurrency "
                "or autoscalingConfiguration"])
    merged_min = req.minInstances if req.minInstances is not None else raw.get("minInstances")
    merged_max = req.maxInstances if req.maxInstances is not None else raw.get("maxInstances")
    refuse(_count_issues("gpuSpecification", merged_min, merged_max, concurrency, violations))
    new = dict(raw)
    changes = [] if ignored else _fixed_changes(req, raw, _FIXED_FIELDS, given_only=True)
    if rules.DEPLOY_PATCH_FIXED_FIELDS in violations:
        for field, value in _fixed_changes(req, raw, _FIXED_FIELDS, given_only=True):
            new[field] = value
    else:
        _refuse_fixed(changes, "gpuSpecification", raw, function, nvidia=False)
    _apply_counts(new, req.minInstances, req.maxInstances, concurrency)
    if req.autoscalingConfigurationPolicy == "PLATFORM_CONFIGURATION":
        new.pop("autoscalingConfiguration", None)
    elif req.autoscalingConfiguration is not None:
        new["autoscalingConfiguration"] = req.autoscalingConfiguration
    return new
