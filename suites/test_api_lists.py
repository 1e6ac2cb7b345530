"""The list endpoints: a created version is listed by all three, a deleted one by none."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.client import Nonconformant, NvcfClient, Reply
from conformance.plugin import ChartRef, Expect, Functions, params_of

pytestmark = pytest.mark.case("minimal-http")


def _entries(reply: Reply, member: str) -> list[Any]:
    """The list `member` of a 200 answer; any other shape is the implementation's FAIL, quoted."""
    found = reply.expect(200).field(member)
    if not isinstance(found, list):
        raise Nonconformant(f"{reply.method} {reply.url}: '{member}' is not a list: {reply.text[:200]!r}",
                            "wrong-answer")
    return found


def _version_ids(reply: Reply) -> set[str]:
    return {str(f.get("versionId")) for f in _entries(reply, "functions") if isinstance(f, dict)}


def _listings(nvcf: NvcfClient, function_id: str, version_id: str) -> dict[str, bool]:
    """Where the version shows: the function list, the id list, the function's version list."""
    versions = nvcf.list_versions(function_id)
    # Once a function has no version left, its version list may be gone altogether.
    in_versions = versions.status_code != 404 and version_id in _version_ids(versions)
    return {
        "GET /v2/nvcf/functions": version_id in _version_ids(nvcf.list_functions()),
        "GET /v2/nvcf/functions/ids": function_id in {str(i) for i in _entries(nvcf.list_function_ids(),
                                                                             "functionIds")},
        f"GET /v2/nvcf/functions/{function_id}/versions": in_versions,
    }


def _created(functions: Functions, chart: ChartRef) -> tuple[str, str]:
    function = functions.create(chart).expect(200, 201).field("function")
    return str(function["id"]), str(function["versionId"])


def _listed_after_create(functions: Functions, chart: ChartRef, nvcf: NvcfClient) -> str:
    fid, vid = _created(functions, chart)
    missing = [where for where, listed in _listings(nvcf, fid, vid).items() if not listed]
    if missing:
        raise Nonconformant(f"function {fid} version {vid} was created but {', '.join(missing)} does not list it",
                            "wrong-answer")
    return f"function {fid} version {vid} listed by all three after creation"


def _gone_after_delete(functions: Functions, chart: ChartRef, nvcf: NvcfClient) -> str:
    fid, vid = _created(functions, chart)
    nvcf.delete_version(fid, vid).expect(200, 202, 204)
    still = [where for where, listed in _listings(nvcf, fid, vid).items() if listed]
    if still:
        raise Nonconformant(f"function {fid}'s only version {vid} was deleted but {', '.join(still)} still "
                            "lists it", "wrong-answer")
    return f"function {fid} version {vid} listed by none of the three after deletion"


@pytest.mark.rule("API-LIST-FUNCTIONS")
@pytest.mark.parametrize("param", params_of("API-LIST-FUNCTIONS"))
def test_lists_follow_creation_and_deletion(param: str, functions: Functions, chart: ChartRef, nvcf: NvcfClient,
                                            expect: Expect) -> None:
    check = _listed_after_create if param == "created-is-listed" else _gone_after_delete
    expect.observed("http-2xx", check(functions, chart, nvcf))
