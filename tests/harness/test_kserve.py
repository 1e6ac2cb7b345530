"""Answers of unexpected shape are FAILs that quote them, never Python errors of the harness."""

from __future__ import annotations

import httpx
import pytest

from conformance.client import Nonconformant
from conformance.client.http import Reply
from conformance.client.kserve import EchoAnswer, echo_request


def reply(content: bytes, status: int = 200) -> Reply:
    return Reply("POST", "/v2/nvcf/pexec/functions/f", httpx.Response(status, content=content))


@pytest.mark.parametrize("content", [
    b'{"model_name": "echo", "outputs": []}',  # what made INVOKE-PEXEC-ANSWER raise IndexError
    b'{"outputs": [["not", "an", "object"]]}',
    b'{"outputs": [{"data": "not a list"}]}',
    b'[{"outputs": [{"data": ["x"]}]}]',
    b"<html>gateway error</html>",
    b"",
])
def test_malformed_answers_fail_with_the_observation(content: bytes) -> None:
    with pytest.raises(Nonconformant) as caught:
        EchoAnswer.of(reply(content))
    assert caught.value.outcome == "wrong-answer"
    assert "POST /v2/nvcf/pexec/functions/f → 200" in str(caught.value)


def test_an_echo_is_read_with_its_metadata() -> None:
    body = (b'{"model_name": "echo", "outputs": [{"name": "OUTPUT0", "data": ["hi"]}], '
            b'"parameters": {"metadata.NVCF-REQID": "r1", "served-by": "first"}}')
    answer = EchoAnswer.of(reply(body)).echoes("hi", reply(body))
    assert answer.model_name == "echo" and answer.metadata() == {"nvcf-reqid": "r1"}
    assert answer.parameters["served-by"] == "first"
    with pytest.raises(Nonconformant, match="not the mini-service's echo of 'other'"):
        answer.echoes("other", reply(body))


def test_echo_request_carries_probe_parameters() -> None:
    assert echo_request("x", delay_seconds=3)["parameters"] == {"delay_seconds": 3}
    assert "parameters" not in echo_request("x")
