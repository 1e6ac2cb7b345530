"""Restarts lose nothing: records survive, deployments on their way up are resumed, tokens load."""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from ref_support import (
    HOLD,
    INVOKER,
    EchoDataPlane,
    Running,
    ScriptedDeployer,
    assert_problem,
    create,
    deployment_path,
    gpu_spec,
    helm_function,
    version_path,
    wait_for_status,
)

from reference.auth import API_KEY_SCOPES, MANAGEMENT_SCOPES, TokenRegistry, load_or_generate
from reference.errors import ConfigError, ReferenceFailure
from reference.store import SCHEMA_VERSION, Store


def test_a_restart_keeps_functions_versions_and_deployments(server: Callable[..., Running], tmp_path: Path) -> None:
    db = tmp_path / "keep.db"
    first = server(db, deployer=ScriptedDeployer(), data_plane=EchoDataPlane())
    client = first.client()
    fn = create(client, helm_function("survivor", tags=["t"]))
    v2 = client.post(f"/v2/nvcf/functions/{fn['id']}/versions", json=helm_function("survivor")).json()["function"]
    client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec(configuration={"k": "v"})]})
    active = wait_for_status(client, fn, "ACTIVE")
    answer = first.client(INVOKER).post(f"/v2/nvcf/pexec/functions/{fn['id']}", json={"q": 1})
    reqid = answer.headers["nvcf-reqid"]
    before = {
        "list": client.get("/v2/nvcf/functions").json(),
        "deployment": client.get(deployment_path(fn)).json(),
    }
    first.stop()

    deployer = ScriptedDeployer()
    second = server(db, deployer=deployer, data_plane=EchoDataPlane())
    client = second.client()
    # DEPLOYING until the deployer has re-attached (test_ref_restart_serving.py), then as it was.
    wait_for_status(client, fn, "ACTIVE")
    assert client.get("/v2/nvcf/functions").json() == before["list"]
    assert client.get(version_path(v2)).json()["function"] == v2
    dep = client.get(deployment_path(fn)).json()["deployment"]
    old = before["deployment"]["deployment"]
    assert dep["deploymentSpecifications"] == old["deploymentSpecifications"]
    assert dep["deploymentId"] == old["deploymentId"]
    # The ACTIVE deployment is handed back to the deployer to re-attach, and is ACTIVE again.
    assert deployer.deploy_calls == [(fn["versionId"], True)]
    assert wait_for_status(client, fn, "ACTIVE")["activeInstances"] == active["activeInstances"]
    stored = second.client(INVOKER).get(f"/v2/nvcf/pexec/status/{reqid}")
    assert stored.status_code == 200
    assert stored.json() == answer.json()


def test_a_deployment_that_was_deploying_is_resumed(server: Callable[..., Running], tmp_path: Path) -> None:
    db = tmp_path / "resume.db"
    hanging = ScriptedDeployer(HOLD)
    first = server(db, deployer=hanging)
    fn = create(first.client(), helm_function("interrupted"))
    first.client().post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec()]})
    wait_for_status(first.client(), fn, "DEPLOYING")
    failed = create(first.client(), helm_function("failed-before"))
    first.stop()
    assert hanging.shutdowns == 1
    assert hanging.deploy_calls == [(fn["versionId"], False)]

    # Shutdown left the record alone: still DEPLOYING on disk.
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM functions WHERE version_id = ?",
                            (fn["versionId"],)).fetchone() == ("DEPLOYING",)

    finisher = ScriptedDeployer()
    second = server(db, deployer=finisher)
    assert wait_for_status(second.client(), fn, "ACTIVE")["activeInstances"][0]["instanceId"] == "i-1"
    assert finisher.deploy_calls == [(fn["versionId"], True)]
    assert second.client().get(version_path(failed)).json()["function"]["status"] == "INACTIVE"


def test_errored_deployments_are_not_resumed(server: Callable[..., Running], tmp_path: Path) -> None:
    db = tmp_path / "error.db"
    first = server(db)  # NullDeployer: every deployment ends in ERROR
    fn = create(first.client(), helm_function("errored"))
    first.client().post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec()]})
    wait_for_status(first.client(), fn, "ERROR")
    first.stop()
    deployer = ScriptedDeployer()
    second = server(db, deployer=deployer)
    assert second.client().get(version_path(fn)).json()["function"]["status"] == "ERROR"
    assert deployer.deploy_calls == []


def test_invocations_cut_off_by_a_restart_are_answered(server: Callable[..., Running], tmp_path: Path) -> None:
    db = tmp_path / "cut.db"
    first = server(db, deployer=ScriptedDeployer(), data_plane=EchoDataPlane())
    fn = create(first.client(), helm_function("cut-off"))
    first.client().post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec()]})
    wait_for_status(first.client(), fn, "ACTIVE")
    r = first.client(INVOKER).post(f"/v2/nvcf/pexec/functions/{fn['id']}", json={},
                                   headers={"NVCF-POLL-SECONDS": "1", "x-delay": "30"})
    assert r.status_code == 202
    first.stop()
    second = server(db, deployer=ScriptedDeployer(), data_plane=EchoDataPlane())
    answer = second.client(INVOKER).get(f"/v2/nvcf/pexec/status/{r.headers['nvcf-reqid']}")
    assert_problem(answer, 502, "restarted")
    assert answer.headers["nvcf-status"] == "errored"


def test_store_schema_and_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "fresh.db"
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION
    store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Opening again applies nothing twice.
    again = Store(path)
    assert again.schema_version == SCHEMA_VERSION
    again.close()


def test_a_database_from_a_newer_server_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ReferenceFailure, match="newer than this server"):
        Store(path)


def test_tokens_are_generated_private_and_loaded_back(tmp_path: Path) -> None:
    path = tmp_path / "auth" / "tokens.json"
    registry, generated = load_or_generate(path)
    assert generated
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    by_name = {entry["name"]: (token, entry["scopes"]) for token, entry in document["tokens"].items()}
    assert set(by_name) == {"admin", "api-key"}
    # NVCF_TOKEN's management scopes, without invoke_function (that is the API key's).
    assert set(by_name["admin"][1]) == set(MANAGEMENT_SCOPES)
    assert set(by_name["api-key"][1]) == set(API_KEY_SCOPES)
    admin = registry.lookup(by_name["admin"][0])
    assert admin is not None and admin.name == "admin"
    reloaded, generated_again = load_or_generate(path)
    assert not generated_again
    assert reloaded.lookup(by_name["api-key"][0]) is not None
    assert reloaded.lookup("nvcf-ref-guess") is None


def test_yaml_tokens_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n  abc123:\n    name: ci\n    scopes: [list_functions]\n")
    principal = TokenRegistry.from_file(path).lookup("abc123")
    assert principal is not None
    assert principal.scopes == frozenset({"list_functions"})


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("tokens: {}\n", "at least one"),
        ("- a\n- b\n", "mapping"),
        ("tokens:\n  abc: [list_functions]\n", "{name, scopes}"),
        ("tokens:\n  abc: {name: x, scopes: list_functions}\n", "'scopes'"),
        ("tokens: [unclosed\n", "neither YAML nor JSON"),
    ],
)
def test_bad_tokens_files_name_the_problem(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=r"bad\.yaml") as err:
        TokenRegistry.from_file(path)
    assert needle in str(err.value)
