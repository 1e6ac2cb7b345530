"""Every catalog rule id the reference emits, or that a mutant (`nvcf-reference serve --violate ID`) breaks.

The ids are the harness catalog's (`conformance/catalog/rules.yaml`); they are spelled out here rather
than loaded, as the reference never imports the harness. A test checks every id below against the
catalog, and `nvcf-conformance list RULE` reads this module (as text) to show where each mutant lives:
the modules that use `rules.<NAME>`. The comment beside an id says what its mutant does.
"""

from __future__ import annotations

# Chart reference (raised as ChartUrlError / FetchError with `rule` set).
CHART_REF_SCHEME_REFUSED = "CHART-REF-SCHEME-REFUSED"
CHART_REF_HTTP_REFUSED = "CHART-REF-HTTP-REFUSED"
CHART_REF_OTHER_FORM_REFUSED = "CHART-REF-OTHER-FORM-REFUSED"
CHART_VERSION_DASH_REFUSED = "CHART-VERSION-DASH-REFUSED"
CHART_NAME_SYMBOLS_REFUSED = "CHART-NAME-SYMBOLS-REFUSED"
CHART_MISSING_REFUSED = "CHART-MISSING-REFUSED"

# The page's own example versions (`v1`, the `-1.0.tgz` of its create example): only named by the mutant.
DOC_EXAMPLE_CHART_VERSIONS = "DOC-EXAMPLE-CHART-VERSIONS"

# Checks on the rendered objects (reported as violations).
KIND_FORBIDDEN = "KIND-FORBIDDEN"
KIND_API_VERSION_REFUSED = "KIND-API-VERSION-REFUSED"
KIND_LIST_REFUSED = "KIND-LIST-REFUSED"
SVC_TYPE_FORBIDDEN = "SVC-TYPE-FORBIDDEN"
OBJECTS_OVER_300_REFUSED = "OBJECTS-OVER-300-REFUSED"
OBJECT_SIZE_LIMIT = "OBJECT-SIZE-LIMIT"
VOL_FORBIDDEN = "VOL-FORBIDDEN"
VOL_PROJECTED_SOURCE_FORBIDDEN = "VOL-PROJECTED-SOURCE-FORBIDDEN"
SVC_NAME_MISMATCH_REFUSED = "SVC-NAME-MISMATCH-REFUSED"
SVC_PORT_MISMATCH_REFUSED = "SVC-PORT-MISMATCH-REFUSED"

# Security standards: the *-ENFORCED checks run under policy `enforced`; under `current` the
# matching *-CURRENT id in `violate` turns the same check on (a mutant that enforces too early).
SEC_LIMITS_ENFORCED = "SEC-LIMITS-ENFORCED"
SEC_HOST_NAMESPACES_ENFORCED = "SEC-HOST-NAMESPACES-ENFORCED"
SEC_RUN_AS_NON_ROOT_ENFORCED = "SEC-RUN-AS-NON-ROOT-ENFORCED"
SEC_AUTOMOUNT_TOKEN_ENFORCED = "SEC-AUTOMOUNT-TOKEN-ENFORCED"
SEC_PRIVILEGE_ENFORCED = "SEC-PRIVILEGE-ENFORCED"
SEC_SECCOMP_ENFORCED = "SEC-SECCOMP-ENFORCED"
SEC_HOST_PORT_ENFORCED = "SEC-HOST-PORT-ENFORCED"
SEC_PSS_BASELINE_OTHER_ENFORCED = "SEC-PSS-BASELINE-OTHER-ENFORCED"
SEC_PSS_RESTRICTED_OTHER_ENFORCED = "SEC-PSS-RESTRICTED-OTHER-ENFORCED"
SEC_CURRENT_OF = {
    SEC_LIMITS_ENFORCED: "SEC-LIMITS-CURRENT",
    SEC_HOST_NAMESPACES_ENFORCED: "SEC-HOST-NAMESPACES-CURRENT",
    SEC_RUN_AS_NON_ROOT_ENFORCED: "SEC-RUN-AS-NON-ROOT-CURRENT",
    SEC_AUTOMOUNT_TOKEN_ENFORCED: "SEC-AUTOMOUNT-TOKEN-CURRENT",
    SEC_PRIVILEGE_ENFORCED: "SEC-PRIVILEGE-CURRENT",
    SEC_SECCOMP_ENFORCED: "SEC-SECCOMP-CURRENT",
    SEC_HOST_PORT_ENFORCED: "SEC-HOST-PORT-CURRENT",
    SEC_PSS_BASELINE_OTHER_ENFORCED: "SEC-PSS-BASELINE-OTHER-CURRENT",
    SEC_PSS_RESTRICTED_OTHER_ENFORCED: "SEC-PSS-RESTRICTED-OTHER-CURRENT",
}

# The checks NVIDIA's validator only logs with `skipValidateObjects: true` (HR/reval/run.go
# validateReleaseObjects): what `object_checks="logged"` stops refusing.
OBJECT_CHECKS: frozenset[str] = frozenset(
    {
        SVC_TYPE_FORBIDDEN,
        VOL_FORBIDDEN,
        VOL_PROJECTED_SOURCE_FORBIDDEN,
        SVC_NAME_MISMATCH_REFUSED,
        SVC_PORT_MISMATCH_REFUSED,
        *SEC_CURRENT_OF,
        *SEC_CURRENT_OF.values(),
    }
)

# Behaviours a mutant can break (only ever named in `violate`).
KIND_ALLOWED = "KIND-ALLOWED"
SVC_TYPE_CLUSTERIP = "SVC-TYPE-CLUSTERIP"
VOL_ALLOWED = "VOL-ALLOWED"
OBJECTS_MAX_300_ACCEPTED = "OBJECTS-MAX-300-ACCEPTED"
HOOKS_NOT_RUN = "HOOKS-NOT-RUN"
HOOKS_NOT_CREATED = "HOOKS-NOT-CREATED"
HOOK_FORBIDDEN_KIND_IGNORED = "HOOK-FORBIDDEN-KIND-IGNORED"
CRD_CHART_DEPLOYS = "CRD-CHART-DEPLOYS"
CRD_NOT_INSTALLED = "CRD-NOT-INSTALLED"
SUBCHART_FORBIDDEN_KIND_REFUSED = "SUBCHART-FORBIDDEN-KIND-REFUSED"
SUBCHART_VALID_DEPLOYS = "SUBCHART-VALID-DEPLOYS"
SUBCHART_MISSING_DEPENDENCY_REFUSED = "SUBCHART-MISSING-DEPENDENCY-REFUSED"
PULL_SECRETS_ALL_PODS = "PULL-SECRETS-ALL-PODS"
PULL_SECRETS_CHART_KEPT = "PULL-SECRETS-CHART-KEPT"
OVERRIDES_SCALAR = "OVERRIDES-SCALAR"
OVERRIDES_NESTED = "OVERRIDES-NESTED"
OVERRIDES_UNSET_KEEP_DEFAULTS = "OVERRIDES-UNSET-KEEP-DEFAULTS"
OVERRIDES_VALIDATED = "OVERRIDES-VALIDATED"
OVERRIDES_MAPS_MERGE = "OVERRIDES-MAPS-MERGE"
OVERRIDES_LISTS_REPLACE = "OVERRIDES-LISTS-REPLACE"
OVERRIDES_NULL_REMOVES = "OVERRIDES-NULL-REMOVES"

# API authentication (auth.py)
API_AUTH_REQUIRED = "API-AUTH-REQUIRED"  # a bearer token this server never issued is taken, with every scope
API_AUTH_SCOPE = "API-AUTH-SCOPE"  # a known token may do anything: scopes are not checked

# Functions API (api/functions.py)
FN_CREATE_HELM = "FN-CREATE-HELM"  # helmChartServiceName is not echoed back
FN_NEW_VERSION_SAME_ID = "FN-NEW-VERSION-SAME-ID"  # a new version lands under a new function id
FN_VERSION_DELETE = "FN-VERSION-DELETE"  # deleting a version answers 200 with a body, not 204
FN_VERSION_DELETED_GONE = "FN-VERSION-DELETED-GONE"  # a deleted version can still be fetched
FN_ERROR_PROBLEM_DETAILS = "FN-ERROR-PROBLEM-DETAILS"  # an unknown version's 404 is plain JSON, no problem document
API_LIST_FUNCTIONS = "API-LIST-FUNCTIONS"  # the list endpoints keep listing deleted versions

# Deployments API (api/deployments.py)
DEPLOY_REDEPLOY_REFUSED = "DEPLOY-REDEPLOY-REFUSED"  # deploying a deployed version answers its deployment
LIFECYCLE_DEPLOY = "LIFECYCLE-DEPLOY"  # a new deployment starts DEGRADED instead of DEPLOYING
LIFECYCLE_UNDEPLOY = "LIFECYCLE-UNDEPLOY"  # removing a deployment is refused (only deleting the version works)
DEPLOY_OVER_ERROR_REFUSED = "DEPLOY-OVER-ERROR-REFUSED"  # deploying over an ERROR deployment replaces it
DEPLOY_GET_ECHOES_SPEC = "DEPLOY-GET-ECHOES-SPEC"  # a deployment GET leaves `configuration` out of its specifications
DEPLOY_DELETE_GRACEFUL = "DEPLOY-DELETE-GRACEFUL"  # removing a deployment with graceful=true is refused
DEPLOY_PUT_UPDATES_COUNTS = "DEPLOY-PUT-UPDATES-COUNTS"  # PUT answers the new counts but keeps the old ones
DEPLOY_PATCH_UPDATES_COUNTS = "DEPLOY-PATCH-UPDATES-COUNTS"  # PATCH answers the new counts but keeps the old ones

# Request validation (validation.py)
FN_NAME_INVALID_REFUSED = "FN-NAME-INVALID-REFUSED"  # any character goes
FN_NAME_VALID_ACCEPTED = "FN-NAME-VALID-ACCEPTED"  # upper-case letters refused (a k8s-style name check)
FN_HELM_FIELDS_PAIRED = "FN-HELM-FIELDS-PAIRED"  # one of helmChart/helmChartServiceName is enough
FN_HELM_NO_CONTAINER_FIELDS = "FN-HELM-NO-CONTAINER-FIELDS"  # container fields beside a chart pass
GRPC_URL_MARKS_FUNCTION = "GRPC-URL-MARKS-FUNCTION"  # only an exact /grpc makes a gRPC function, as NVIDIA's code
GRPC_URL_LOWERCASE = "GRPC-URL-LOWERCASE"  # only the docs' exact spelling /gRPC does
DEPLOY_MIN_LE_MAX = "DEPLOY-MIN-LE-MAX"  # minInstances above maxInstances passes
FN_HEALTH_FIELDS_REQUIRED = "FN-HEALTH-FIELDS-REQUIRED"  # a health field left out takes its default
FN_HEALTH_GATES_ACTIVE = "FN-HEALTH-GATES-ACTIVE"  # a given health object is ignored: the default check gates
FN_INFERENCE_PORT_DEFAULT = "FN-INFERENCE-PORT-DEFAULT"  # an omitted inferencePort defaults to 8080, not 8000
DEPLOY_MAX_CONCURRENCY_BOUNDS = "DEPLOY-MAX-CONCURRENCY-BOUNDS"  # any maxRequestConcurrency passes
DEPLOY_HELM_POLICY_VALIDATED = "DEPLOY-HELM-POLICY-VALIDATED"  # a helmValidationPolicy of any name (or none) passes
DEPLOY_HELM_POLICY_KEPT = "DEPLOY-HELM-POLICY-KEPT"  # an accepted helmValidationPolicy is not recorded
DEPLOY_PUT_FIXED_FIELDS = "DEPLOY-PUT-FIXED-FIELDS"  # PUT applies a new gpu, instanceType or backend
DEPLOY_PATCH_FIXED_FIELDS = "DEPLOY-PATCH-FIXED-FIELDS"  # PATCH applies a new gpu, instanceType or backend
DOC_EXAMPLE_DEPLOY_BODY = "DOC-EXAMPLE-DEPLOY-BODY"  # a specification without instanceType is a 400
DOC_EXAMPLE_GRPC_NOTE = "DOC-EXAMPLE-GRPC-NOTE"  # the note's key inferenceURL is ignored
DOC_EXAMPLE_CREATE_BODY = "DOC-EXAMPLE-CREATE-BODY"  # an inferenceUrl without a leading slash is a 400
ITYPE_MALFORMED_REFUSED = "ITYPE-MALFORMED-REFUSED"  # with the back half's mutant: any instanceType passes

# Invocation API (api/invocation.py)
INVOKE_POLL_SECONDS_MAX = "INVOKE-POLL-SECONDS-MAX"  # NVCF-POLL-SECONDS above 3600 is taken
INVOKE_PEXEC_POLL = "INVOKE-PEXEC-POLL"  # the poll window is ignored: pexec always waits for the answer
INVOKE_PEXEC_ANSWER = "INVOKE-PEXEC-ANSWER"  # a direct answer carries no NVCF-REQID
INVOKE_PEXEC_VERSION = "INVOKE-PEXEC-VERSION"  # pexec of a named version is answered 404
INVOKE_STATUS_UNKNOWN = "INVOKE-STATUS-UNKNOWN"  # polling an unknown request id answers 202 in-progress
INVOKE_INACTIVE_NOT_SERVED = "INVOKE-INACTIVE-NOT-SERVED"  # a function that cannot serve accepts the call (202)
MINI_SERVICE_ROUTED = "MINI-SERVICE-ROUTED"  # pexec goes to / instead of the function's inferenceUrl
INVOKE_PASSTHROUGH_STATUS = "INVOKE-PASSTHROUGH-STATUS"  # the function's 4xx/5xx become the gateway's 502
INVOKE_POLL_SECONDS_ZERO = "INVOKE-POLL-SECONDS-ZERO"  # NVCF-POLL-SECONDS 0 is refused instead of counting as 1
INVOKE_POLL_SECONDS_NOT_NUMBER = "INVOKE-POLL-SECONDS-NOT-NUMBER"  # a header that is no whole number is ignored
INVOKE_PEXEC_UNCLAIMED_504 = "INVOKE-PEXEC-UNCLAIMED-504"  # a call answered 504 is still forwarded once a slot frees
INVOKE_ROUTE_VERSION_HOST = "INVOKE-ROUTE-VERSION-HOST"  # the version label of <vid>.<fid>.invocation.<gw> is ignored
INVOKE_ROUTE_HEADERS = "INVOKE-ROUTE-HEADERS"  # the function-version-id header is ignored
INVOKE_PASSTHROUGH_QUERY = "INVOKE-PASSTHROUGH-QUERY"  # pass-through drops the query string
INVOKE_PASSTHROUGH_METHOD = "INVOKE-PASSTHROUGH-METHOD"  # pass-through reaches the function as POST whatever was sent

# pexec answers (invoker.py)
INVOKE_HEADERS_FORWARDED = "INVOKE-HEADERS-FORWARDED"  # the function is not told its id
INVOKE_NVCF_STATUS = "INVOKE-NVCF-STATUS"  # a direct answer carries no NVCF-STATUS
INVOKE_NVCF_STATUS_ERRORED = "INVOKE-NVCF-STATUS-ERRORED"  # the function's error answers are marked fulfilled

# Deploying (backend/deploy/deployer.py)
# call the function ACTIVE as soon as its objects are applied, before anything is ready.
MINI_ACTIVE_WHEN_READY = "MINI-ACTIVE-WHEN-READY"
# leave restrictions to deployment time (no chart pipeline at function creation).
RESTRICTIONS_CHECKED_AT_CREATION = "RESTRICTIONS-CHECKED-AT-CREATION"
# accept multi-node types that split nodes (or have one node).
MULTINODE_FULL_NODE_ONLY = "MULTINODE-FULL-NODE-ONLY"

# Instance types (backend/deploy/instance_types.py)
# Single-node types with more than one GPU are refused, as though a node's GPUs came whole only via `.xN`.
ITYPE_SINGLE_NODE_ACCEPTED = "ITYPE-SINGLE-NODE-ACCEPTED"
MULTINODE_ACCEPTED = "MULTINODE-ACCEPTED"  # No multi-node types are offered: every `.xN` type is refused.

# Placement over nodes (backend/deploy/placement.py)
# A single-node instance is split over nodes: twice the pods, half the GPUs each, kept apart.
ITYPE_SINGLE_NODE_PLACEMENT = "ITYPE-SINGLE-NODE-PLACEMENT"
# A multi-node instance is packed onto one node: its pods share one node's GPUs, the chart's spreading
# dropped.
MULTINODE_PLACEMENT = "MULTINODE-PLACEMENT"

# The KWOK data plane (backend/kwok/dataplane.py)
# take any answer of the gRPC health check (NOT_SERVING too) as healthy, so a gRPC function goes ACTIVE before
# its mini-service reports SERVING.
GRPC_HEALTH_GATES_ACTIVE = "GRPC-HEALTH-GATES-ACTIVE"

# gRPC invocation (backend/invocation/grpc_proxy.py)
# A ModelInfer routed by `function-id` alone is answered by the proxy (an empty reply), not the function.
GRPC_INVOCATION = "GRPC-INVOCATION"
# `function-version-id` is ignored: calls go to any version and reach the function without that key.
GRPC_VERSION_METADATA = "GRPC-VERSION-METADATA"
# A call without `function-id` is answered NotFound instead of InvalidArgument.
GRPC_FUNCTION_ID_REQUIRED = "GRPC-FUNCTION-ID-REQUIRED"
GRPC_AUTH_REQUIRED = "GRPC-AUTH-REQUIRED"  # A call without `authorization` metadata is let through.
# An `nvcf-reqid` the proxy never issued opens a new session instead of being answered NotFound.
GRPC_RESUME_UNKNOWN_NOT_FOUND = "GRPC-RESUME-UNKNOWN-NOT-FOUND"
# Replies are held until the function ends the call, then sent all at once: no stream reaches the caller.
GRPC_STREAMING = "GRPC-STREAMING"

# What a violation can carry as its rule id.
EMITTED: frozenset[str] = frozenset(
    {
        KIND_FORBIDDEN,
        KIND_API_VERSION_REFUSED,
        KIND_LIST_REFUSED,
        SVC_TYPE_FORBIDDEN,
        OBJECTS_OVER_300_REFUSED,
        OBJECT_SIZE_LIMIT,
        VOL_FORBIDDEN,
        VOL_PROJECTED_SOURCE_FORBIDDEN,
        SVC_NAME_MISMATCH_REFUSED,
        SVC_PORT_MISMATCH_REFUSED,
        *SEC_CURRENT_OF,
        *SEC_CURRENT_OF.values(),
    }
)
# What ChartError.rule can carry.
ERROR_RULES: frozenset[str] = frozenset(
    {
        CHART_REF_SCHEME_REFUSED,
        CHART_REF_HTTP_REFUSED,
        CHART_REF_OTHER_FORM_REFUSED,
        CHART_VERSION_DASH_REFUSED,
        CHART_NAME_SYMBOLS_REFUSED,
        CHART_MISSING_REFUSED,
        DOC_EXAMPLE_CHART_VERSIONS,
    }
)
# Every id above: what `violate` can name, derived from the constants rather than listed again.
VIOLABLE: frozenset[str] = frozenset(
    {value for name, value in list(globals().items()) if name.isupper() and isinstance(value, str)}
    | set(SEC_CURRENT_OF.values())
)
