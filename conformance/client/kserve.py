"""The KServe v2 echo the mini-service answers, read defensively.

An implementation under test can answer anything: an empty `outputs`, a list instead of an object,
no JSON at all. Each of those is the implementation's failure to deliver the mini-service's answer,
so it becomes a FAIL that quotes what came back (`Nonconformant`, "wrong-answer"), never a Python
error of the harness.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.client.errors import Nonconformant
from conformance.client.http import Reply

INPUT_NAME = "INPUT0"


def echo_request(text: str, **parameters: Any) -> dict[str, Any]:
    """A KServe v2 inference request the mini-service echoes back (`parameters` tune the probe)."""
    body: dict[str, Any] = {"inputs": [{"name": INPUT_NAME, "datatype": "BYTES", "shape": [1], "data": [text]}]}
    if parameters:
        body["parameters"] = parameters
    return body


@dataclass(frozen=True)
class EchoAnswer:
    model_name: str | None
    data: tuple[Any, ...]
    parameters: dict[str, Any]

    @classmethod
    def of(cls, reply: Reply) -> EchoAnswer:
        """The answer in `reply`, or a FAIL saying what about it is not a KServe answer."""
        shown = f"{reply.describe()}: {reply.text[:200]!r}"
        body = reply.body
        if not isinstance(body, dict):
            raise Nonconformant(f"the answer is not a KServe JSON object: {shown}", "wrong-answer")
        outputs = body.get("outputs")
        first = outputs[0] if isinstance(outputs, list) and outputs else None
        data = first.get("data") if isinstance(first, dict) else None
        if not isinstance(data, list):
            raise Nonconformant(f"the answer carries no outputs[0].data: {shown}", "wrong-answer")
        parameters = body.get("parameters")
        model = body.get("model_name")
        return cls(model if isinstance(model, str) else None, tuple(data),
                   parameters if isinstance(parameters, dict) else {})

    def metadata(self) -> dict[str, str]:
        """The invocation headers the mini-service saw, from its `metadata.<header>` parameters."""
        return {str(k).lower().removeprefix("metadata."): str(v) for k, v in self.parameters.items()
                if str(k).lower().startswith("metadata.")}

    def echoes(self, text: str, reply: Reply) -> EchoAnswer:
        """This answer, when it is the echo of `text`; a FAIL quoting it otherwise."""
        if list(self.data) != [text]:
            raise Nonconformant(f"the answer is not the mini-service's echo of {text!r}: {reply.text[:300]!r}",
                                "wrong-answer")
        return self
