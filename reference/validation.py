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
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from reference.config import Behaviour, ChartReferences
from reference.models import (
    INSTANCE_TYPE_PATTERN,
    NAME_PATTERN,
    CreateFunctionRequest,
    DeploymentRequest,
    GpuSpecification,
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

# Mutants (`reference serve --violate RULE`): each id below breaks the one behaviour its rule documents.
NAME_INVALID_REFUSED = "FN-NAME-INVALID-REFUSED"  # any character goes
NAME_VALID_ACCEPTED = "FN-NAME-VALID-ACCEPTED"  # upper-case letters refused (a k8s-style name check)
HELM_FIELDS_PAIRED = "FN-HELM-FIELDS-PAIRED"  # one of helmChart/helmChartServiceName is enough
HELM_NO_CONTAINER_FIELDS = "FN-HELM-NO-CONTAINER-FIELDS"  # container fields beside a chart pass
CHART_SCHEME_REFUSED = "CHART-REF-SCHEME-REFUSED"  # with the chart-level mutant: any scheme passes
CHART_HTTP_REFUSED = "CHART-REF-HTTP-REFUSED"  # with the chart-level mutant: http:// passes
GRPC_URL_MARKS = "GRPC-URL-MARKS-FUNCTION"  # only an exact /grpc makes a gRPC function, as NVIDIA's code
GRPC_URL_LOWERCASE = "GRPC-URL-LOWERCASE"  # only the docs' exact spelling /gRPC does
MIN_LE_MAX = "DEPLOY-MIN-LE-MAX"  # minInstances above maxInstances passes
# Mutants of the page's own examples: each refuses what its example writes.
EXAMPLE_DEPLOY_BODY = "DOC-EXAMPLE-DEPLOY-BODY"  # a specification without instanceType is a 400
EXAMPLE_GRPC_NOTE = "DOC-EXAMPLE-GRPC-NOTE"  # the note's key inferenceURL is ignored
EXAMPLE_CREATE_BODY = "DOC-EXAMPLE-CREATE-BODY"  # an inferenceUrl without a leading slash is a 400
MALFORMED_TYPE_REFUSED = "ITYPE-MALFORMED-REFUSED"  # with the back half's mutant: any instanceType passes
DEFAULT_CSP = "ON-PREM"
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
    if GRPC_URL_MARKS in violations:
        # NVIDIA's FunctionMapperService: `inferenceUrl.toString().equals("/grpc")`, nothing else.
        return inference_url == "/grpc"
    if GRPC_URL_LOWERCASE in violations:
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
    allowed = {"oci", "https", *(("http",) if CHART_HTTP_REFUSED in violations else ())}
    if references == "helm":
        # NVIDIA's API takes http too at creation; its validator refuses it at deployment.
        allowed.update(NVIDIA_CREATION_SCHEMES)
    if CHART_SCHEME_REFUSED in violations:
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
    elif name is not None and not NAME_RE.match(name) and NAME_INVALID_REFUSED not in violations:
        issues.append(
            f"'name' must match {NAME_PATTERN}: start with a letter or digit, then letters, digits, '-' or '_'"
        )
    elif name is not None and NAME_VALID_ACCEPTED in violations and name != name.lower():
        issues.append("'name' must be lower case")
    inference_url = (req.inferenceUrl or "").strip()
    written_as_the_page = (req.inferenceURL or "").strip()
    if written_as_the_page and behaviour.page_examples and EXAMPLE_GRPC_NOTE not in violations:
        if inference_url and inference_url != written_as_the_page:
            issues.append("'inferenceUrl' and 'inferenceURL' (the docs' spelling of the same key) disagree")
        inference_url = inference_url or written_as_the_page
    if not inference_url:
        issues.append("'inferenceUrl' is required")
    elif not inference_url.startswith("/") and EXAMPLE_CREATE_BODY in violations:
        issues.append("'inferenceUrl' must start with '/'")
    elif any(ch.isspace() or ord(ch) < 32 for ch in inference_url):
        issues.append("'inferenceUrl' must be a URI path without spaces or control characters")
    _check_port(issues, "inferencePort", req.inferencePort)

    has_chart, has_service = _given(req.helmChart), _given(req.helmChartServiceName)
    if has_chart != has_service and HELM_FIELDS_PAIRED not in violations:
        issues.append("'helmChart' and 'helmChartServiceName' go together: give both or neither")
    if has_chart:
        for field in ("containerImage", "containerArgs", "containerEnvironment"):
            if _given(getattr(req, field)) and HELM_NO_CONTAINER_FIELDS not in violations:
                issues.append(
                    f"'helmChart' cannot be combined with '{field}': a helm-based function gets its "
                    "containers from the chart"
                )
        if not nvidia:
            _check_chart_url(issues, req.helmChart or "", violations, behaviour.chart_references)
    paired_alone = HELM_FIELDS_PAIRED in violations and has_service
    if not (_given(req.containerImage) or _given(req.models) or has_chart or paired_alone):
        issues.append("one of 'containerImage', 'models' or 'helmChart' is required")

    if req.health is not None:
        h = req.health
        _check_port(issues, "health.port", h.port)
        if not h.uri.strip():
            issues.append("'health.uri' must not be empty")
        if not DURATION_RE.match(h.timeout):
            issues.append("'health.timeout' must be an ISO-8601 duration such as PT10S")
        if not 100 <= h.expectedStatusCode <= 599:
            issues.append("'health.expectedStatusCode' must be an HTTP status code (100-599)")
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

    port = req.inferencePort if req.inferencePort is not None else DEFAULT_INFERENCE_PORT
    if req.health is not None:
        health = req.health.model_dump()
    else:
        health = {
            "protocol": "gRPC" if is_grpc_url(inference_url, violations) else "HTTP",
            "uri": req.healthUri or DEFAULT_HEALTH_URI,
            "port": port,
            "timeout": DEFAULT_HEALTH_TIMEOUT,
            "expectedStatusCode": 200,
        }
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


def _nvidia_chart_url_problem(url: str, violations: Collection[str], behaviour: Behaviour) -> str | None:
    """NVIDIA's creation-time URL check, or, reading the documented form, this server's (in NVIDIA's words)."""
    if CHART_SCHEME_REFUSED in violations:
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
        if MALFORMED_TYPE_REFUSED in violations:
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
            and spec.minInstances > spec.maxInstances and MIN_LE_MAX not in violations):
        issues.append(f"'{where}.minInstances' must be less than or equal to 'maxInstances'")
    if spec.maxRequestConcurrency is not None and not 1 <= spec.maxRequestConcurrency <= MAX_REQUEST_CONCURRENCY:
        issues.append(f"'{where}.maxRequestConcurrency' must be between 1 and {MAX_REQUEST_CONCURRENCY}")
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


def deployment(req: DeploymentRequest, function: FunctionVersion, deployment_id: str,
               violations: Collection[str] = frozenset(), behaviour: Behaviour | None = None) -> Deployment:
    specs = req.deploymentSpecifications or []
    if not specs:
        refuse(["'deploymentSpecifications' must list at least one GPU specification"])
    behaviour = behaviour or Behaviour()
    if behaviour.page_examples and EXAMPLE_DEPLOY_BODY not in violations:
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
        raw["gpu"] = (spec.gpu or "").strip()
        raw["instanceType"] = (spec.instanceType or "").strip()
        accepted.append(DeploymentSpec(
            gpu=raw["gpu"], instance_type=raw["instanceType"], min_instances=raw["minInstances"],
            max_instances=raw["maxInstances"], configuration=spec.configuration, raw=raw,
        ))
    return Deployment(deployment_id, function.function_id, function.version_id, tuple(accepted))
