"""Credentials: a call without a bearer token, or with one never issued, is 401; one without the scope is 403."""

from __future__ import annotations

import secrets

import pytest

from conformance.client import Nonconformant, NvcfClient, Reply
from conformance.errors import ConfigError
from conformance.plugin import ChartRef, Expect, Functions, params_of
from conformance.target.config import TargetConfig
from suites._helpers import unknown_id

pytestmark = pytest.mark.case("minimal-http")


def _management(nvcf: NvcfClient, credential: str | None) -> Reply:
    return nvcf.call_as(credential, "GET", "/functions")


def _pexec(nvcf: NvcfClient, credential: str | None, function_id: str) -> Reply:
    return nvcf.call_as(credential, "POST", f"/pexec/functions/{function_id}", invocation=True, json_body={})


@pytest.mark.rule("API-AUTH-REQUIRED")
@pytest.mark.parametrize("param", params_of("API-AUTH-REQUIRED"))
def test_unauthenticated_calls_are_401(param: str, nvcf: NvcfClient, expect: Expect) -> None:
    where, _, how = param.partition("-")
    # A token shaped like a real one that no implementation issued; None sends no Authorization at all.
    credential = None if how == "no-bearer" else f"nvcfc-never-issued-{secrets.token_urlsafe(24)}"
    # pexec names a function that was never created: the credential must be judged before the function.
    reply = _management(nvcf, credential) if where == "management" else _pexec(nvcf, credential, unknown_id())
    if reply.status_code != 401:
        said = "without a bearer token" if credential is None else "with a bearer token never issued"
        raise Nonconformant(f"a {where} call {said} was answered {reply.describe()}, not 401",
                            "unexpected-http-status")
    expect.observed("http-401", reply.describe())


def _distinct_credentials(target: TargetConfig) -> None:
    """The 403 checks need the two credentials NVCF hands out; one for both cannot lack a scope."""
    if target.api_key == target.token:
        raise ConfigError(
            "API-AUTH-SCOPE needs an invocation key distinct from the management token: set nvcf.api_key "
            "(NVCF_API_KEY) to a key with the invocation scopes only, beside nvcf.token (NVCF_TOKEN)"
        )


def _key_creates_function(functions: Functions, chart: ChartRef, nvcf: NvcfClient) -> Reply:
    name = functions.name(chart.case)
    reply = nvcf.call_as(nvcf.target.api_key, "POST", "/functions", json_body=chart.function_body(name))
    functions.track(reply, name)  # a function the key could create after all is removed again
    if reply.status_code != 403:
        raise Nonconformant(
            f"the invocation key (nvcf.api_key, invocation scopes only) creating a function was answered "
            f"{reply.describe()}, not 403 for the missing register_function scope", "unexpected-http-status")
    return reply


def _token_invokes(functions: Functions, chart: ChartRef, nvcf: NvcfClient) -> Reply:
    # An ACTIVE function: a backend that does not check the scope would serve the call.
    deployed = functions.deployed(chart)
    reply = _pexec(nvcf, nvcf.target.token, deployed.function_id)
    if reply.status_code != 403:
        raise Nonconformant(
            f"the management token (nvcf.token, management scopes only) invoking an ACTIVE function was "
            f"answered {reply.describe()}, not 403 for the missing invoke_function scope", "unexpected-http-status")
    return reply


@pytest.mark.rule("API-AUTH-SCOPE")
@pytest.mark.parametrize("param", params_of("API-AUTH-SCOPE"))
def test_calls_without_the_scope_are_403(param: str, functions: Functions, chart: ChartRef, nvcf: NvcfClient,
                                         target: TargetConfig, expect: Expect) -> None:
    _distinct_credentials(target)
    check = _key_creates_function if param == "invocation-key-creates-function" else _token_invokes
    reply = check(functions, chart, nvcf)
    expect.observed("http-403", reply.describe())
