"""No secret survives into a transcript: request/response headers and bodies, URLs, errors."""

from __future__ import annotations

import json

from fake_nvcf import FakeNvcf
from harness_support import API_KEY, REGISTRY_PASSWORD, TOKEN, target_for

from conformance.client import NvcfClient, Redactor


def test_redactor_masks_known_secrets_and_credential_shapes() -> None:
    r = Redactor(["s3cret-token-value"])
    assert r.text("x s3cret-token-value y") == "x *** y"
    assert r.text("Authorization: Bearer abc.def-ghi") == "Authorization: Bearer ***"
    assert r.text("oci://user:pa55@reg/x") == "oci://***@reg/x"
    assert r.text('{"password": "hunter22"}') == '{"password": "***"}'
    assert r.headers({"Authorization": "Bearer zzz", "Cookie": "a=b", "X-Other": "s3cret-token-value"}) == {
        "authorization": "Bearer ***", "cookie": "***", "x-other": "***"}


def test_transcript_holds_no_secret(fake: FakeNvcf) -> None:
    # The backend echoes the token in a header and in every body: the transcript must still be clean.
    fake.state.script.echo_secret = TOKEN + " " + API_KEY + " " + REGISTRY_PASSWORD
    target = target_for(fake.address)
    with NvcfClient(target) as client:
        created = client.create_function({"name": "n", "inferenceUrl": "/x", "helmChart": "oci://r/c/charts/a-1.tgz",
                                          "helmChartServiceName": "s", "note": f"my key is {API_KEY}"})
        function = created.field("function")
        client.pexec(function["id"], {"token": TOKEN})
        client.get_version(function["id"], function["versionId"])
        dump = json.dumps([e.__dict__ for e in client.transcript.exchanges])
    assert len(client.transcript) == 3
    for secret in (TOKEN, API_KEY, REGISTRY_PASSWORD):
        assert secret not in dump
    first = client.transcript.exchanges[0]
    assert first.request_headers["authorization"] == "Bearer ***"
    assert first.request_headers["host"].startswith("api.")


def test_one_definition_of_a_secret_serves_config_env_and_reports() -> None:
    """The config's secret keys, our secret env variables and the report scrubber agree (they drifted once)."""
    from conformance.secrets import is_secret_env, is_secret_key
    from conformance.target.config import KEYS

    for name, key in KEYS.items():
        leaf = name.rsplit(".", 1)[-1]
        assert key.secret == is_secret_key(leaf), name
        if key.env and key.env.startswith("NVCF_"):
            assert key.secret == is_secret_env(key.env), key.env
    assert not is_secret_key("tokenEnv") and not is_secret_key("imagePullSecretName")
    assert is_secret_key("auth") and is_secret_key("privateKey")
