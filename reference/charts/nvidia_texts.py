"""Chart refusals worded as NVIDIA's stack words them (`refusal_texts="nvidia"`).

At deployment creation NVIDIA's API calls its validator (helm-reval, `POST /v1/validate`) and, when
the chart is not valid, answers 400 `Helm chart validation error(s) from NVCF ReVal service: ` with
the validator's errors joined by ", " (CF/service/reval/RevalClient.java). The validator stops at the
first stage that finds something (HR/reval/run.go `Run`, `runValidate`), and so does this module:

1. the URL check (`validateHelmChartURL`): its errors in order (helm_reference.url_problems);
2. fetching and rendering: one error, `run helm template: <Helm's error>`;
3. decoding the manifest (HR/reval/serialize.go), document by document: a List is `object <i> is
   not a valid Kubernetes type (does not implement metav1.Object)`; a document over 1,049,600 bytes
   or past index 300 stops decoding with its own error; these come unsorted;
4. the kind allow-list: one error, `unsupported types: ["<group>/<version>.<Kind>" ...]` (Go's %q of
   the list: one entry per object in document order, the core group printed as `core`);
5. object checks, only when they are enforced (strict mode): sorted lexicographically, as NVIDIA
   sorts them. NVIDIA's own texts for those are not reproduced; this server's are used.

Indices are document indices in helm's output, which are the manifest's because helm prints hooks
after it.
"""

from __future__ import annotations

from collections.abc import Sequence

from reference import rules
from reference.charts.errors import ArchiveError, ChartError, ChartUrlError, FetchError, RenderError
from reference.charts.fetch import HelmFailure
from reference.charts.helm_reference import go_quote, url_problems
from reference.charts.render import OBJECT_SIZE_LIMIT
from reference.charts.validate import MAX_OBJECTS, Violation

REVAL_PREFIX = "Helm chart validation error(s) from NVCF ReVal service: "
RENDER_PREFIX = "helm cannot render the chart: "
# helm's CLI capitalises the sentence its library (which NVIDIA calls) starts in lower case.
_CLI_DEPENDENCIES = "An error occurred while checking for chart dependencies"
_KIND_RULES = frozenset({rules.KIND_FORBIDDEN, rules.KIND_API_VERSION_REFUSED})


def deployment_refusal(errors: Sequence[str]) -> str:
    """The 400 detail of NVIDIA's API when its validator finds `errors`."""
    return REVAL_PREFIX + ", ".join(errors)


def type_string(api_version: str, kind: str) -> str:
    """helm-reval's `createTypeString`: `<group>/<version>.<Kind>`, the core group named `core`."""
    group, _, version = api_version.rpartition("/")
    if not group and version == "v1":
        group = "core"
    return f"{group}/{version}.{kind}"


def failure_errors(error: ChartError, url: str) -> list[str]:
    """The validator's errors for a chart that could not be fetched or rendered."""
    if isinstance(error, ChartUrlError):
        found = [p.nvidia for p in url_problems(url.strip())]
        if found:
            return found
    if isinstance(error, FetchError | ArchiveError | RenderError):
        cause = error.__cause__
        said = str(cause) if isinstance(cause, HelmFailure) else error.reason.removeprefix(RENDER_PREFIX)
        if said.startswith(_CLI_DEPENDENCIES):
            said = "a" + said[1:]
        return [f"run helm template: {said}"]
    return [error.reason]


def violation_errors(violations: Sequence[Violation]) -> list[str]:
    """The validator's errors for a chart that rendered but breaks what `violations` say."""
    decoded = _decode_errors(violations)
    if decoded:
        return decoded
    kinds = sorted((v for v in violations if v.rule in _KIND_RULES), key=lambda v: (v.index is None, v.index or 0))
    if kinds:
        listed = " ".join(go_quote(type_string(v.api_version, v.kind)) for v in kinds)
        return [f"unsupported types: [{listed}]"]
    others = [f"{v.object}: {v.message}" if v.object else v.message for v in violations]
    return sorted(others)


def _decode_errors(violations: Sequence[Violation]) -> list[str]:
    """Decoding goes document by document and stops at an oversized document or at the count limit."""
    events: list[tuple[int, int, str, bool]] = []  # (index, order at one index, text, stops decoding)
    for v in violations:
        index = v.index if v.index is not None else MAX_OBJECTS + 1
        if v.rule == rules.OBJECT_SIZE_LIMIT:
            events.append((index, 0, f"size of object at index {index} is larger than maximum "
                                     f"{OBJECT_SIZE_LIMIT} bytes (including object metadata)", True))
        elif v.rule == rules.OBJECTS_OVER_300_REFUSED:
            events.append((index, 1, f"rendered chart contains more objects than the maximum allowed {MAX_OBJECTS}",
                           True))
        elif v.rule == rules.KIND_LIST_REFUSED:
            events.append((index, 2, f"object {index} is not a valid Kubernetes type (does not implement "
                                     "metav1.Object)", False))
    found: list[str] = []
    for _, _, text, stops in sorted(events):
        found.append(text)
        if stops:
            break
    return found
