"""All persistence: one SQLite file (WAL), one connection, schema upgrades by version number.

Records go in as the immutable values of `reference.ports` and come back out the same way, so a
restart on the same file sees exactly what the previous process saw.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reference.errors import ReferenceFailure
from reference.ports import Deployment, DeploymentSpec, FunctionVersion

# Append only: a migration that has shipped is never edited, a change is a new entry.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE functions (
            version_id  TEXT PRIMARY KEY,
            function_id TEXT NOT NULL,
            name        TEXT NOT NULL,
            status      TEXT NOT NULL,
            spec        TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            deleted_at  TEXT
        );
        CREATE INDEX functions_by_function ON functions (function_id);
        CREATE TABLE deployments (
            version_id     TEXT PRIMARY KEY REFERENCES functions (version_id),
            deployment_id  TEXT NOT NULL UNIQUE,
            function_id    TEXT NOT NULL,
            specifications TEXT NOT NULL,
            health_info    TEXT NOT NULL DEFAULT '[]',
            instances      TEXT NOT NULL DEFAULT '[]',
            reason         TEXT,
            created_at     TEXT NOT NULL,
            updated_at     TEXT NOT NULL
        );
        CREATE TABLE invocations (
            request_id  TEXT PRIMARY KEY,
            function_id TEXT NOT NULL,
            version_id  TEXT NOT NULL,
            state       TEXT NOT NULL,
            status_code INTEGER,
            headers     TEXT,
            body        BLOB,
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        );
        """,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def _live(include_deleted: bool) -> str:
    return "" if include_deleted else " AND deleted_at IS NULL"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class FunctionRow:
    version: FunctionVersion
    status: str
    created_at: str


@dataclass(frozen=True)
class DeploymentRow:
    deployment: Deployment
    health_info: tuple[dict[str, Any], ...]
    instances: tuple[dict[str, Any], ...]
    reason: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class InvocationRow:
    request_id: str
    function_id: str
    version_id: str
    state: str  # "pending" | "done"
    status_code: int | None
    headers: tuple[tuple[str, str], ...]
    body: bytes
    created_at: str
    updated_at: str


def _version_to_json(v: FunctionVersion) -> str:
    return json.dumps({
        "name": v.name, "inferenceUrl": v.inference_url, "inferencePort": v.inference_port,
        "health": dict(v.health), "helmChart": v.helm_chart, "helmChartServiceName": v.helm_chart_service_name,
        "containerImage": v.container_image, "request": dict(v.request),
    })


def _version_from_row(row: sqlite3.Row) -> FunctionVersion:
    spec = json.loads(row["spec"])
    return FunctionVersion(
        function_id=row["function_id"], version_id=row["version_id"], name=spec["name"],
        inference_url=spec["inferenceUrl"], inference_port=spec["inferencePort"], health=spec["health"],
        helm_chart=spec["helmChart"], helm_chart_service_name=spec["helmChartServiceName"],
        container_image=spec["containerImage"], request=spec["request"],
    )


def _with_spec_ids(deployment_id: str, raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every specification with its gpuSpecificationId; one stored before ids were assigned gets a stable
    one derived from its deployment and position, so PATCH can address it too."""
    return [raw if raw.get("gpuSpecificationId") else
            {"gpuSpecificationId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"nvcf-reference:{deployment_id}/{index}")),
             **raw}
            for index, raw in enumerate(raws)]


def spec_from_raw(raw: dict[str, Any]) -> DeploymentSpec:
    return DeploymentSpec(
        gpu=raw["gpu"], instance_type=raw["instanceType"], min_instances=raw["minInstances"],
        max_instances=raw["maxInstances"], configuration=raw.get("configuration"), raw=raw,
    )


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Secrets' values live in this file: create it private before SQLite opens it.
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            raise ReferenceFailure(f"cannot open the database {path}: {exc}") from exc
        # One connection, shared by the event loop and any helper thread; SQLite calls are short.
        self._lock = threading.RLock()
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise ReferenceFailure(
                f"the database {self.path} has schema version {current}, newer than this server's "
                f"{SCHEMA_VERSION}: use the newer server or a fresh --db"
            )
        for version, script in MIGRATIONS:
            if version <= current:
                continue
            # executescript commits first; wrapping in BEGIN/COMMIT keeps schema and version in step.
            with self._lock:
                self._conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _all(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._conn.execute(sql, tuple(args)).fetchall())

    def _one(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, tuple(args)).fetchone()
            return row

    def _run(self, sql: str, args: Iterable[Any] = ()) -> int:
        with self._lock:
            return self._conn.execute(sql, tuple(args)).rowcount

    # --- functions --------------------------------------------------------------------------------

    def add_version(self, version: FunctionVersion, status: str = "INACTIVE") -> FunctionRow:
        created = now_iso()
        self._run(
            "INSERT INTO functions (version_id, function_id, name, status, spec, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (version.version_id, version.function_id, version.name, status, _version_to_json(version), created),
        )
        return FunctionRow(version, status, created)

    @staticmethod
    def _function_row(row: sqlite3.Row) -> FunctionRow:
        return FunctionRow(_version_from_row(row), row["status"], row["created_at"])

    def get_version(self, function_id: str, version_id: str) -> FunctionRow | None:
        row = self._one(
            "SELECT * FROM functions WHERE function_id = ? AND version_id = ? AND deleted_at IS NULL",
            (function_id, version_id),
        )
        return self._function_row(row) if row else None

    # `include_deleted` is only ever set by the API-LIST-FUNCTIONS mutant (lists that keep deleted versions).

    def versions_of(self, function_id: str, *, include_deleted: bool = False) -> list[FunctionRow]:
        rows = self._all(
            f"SELECT * FROM functions WHERE function_id = ?{_live(include_deleted)} ORDER BY rowid",
            (function_id,),
        )
        return [self._function_row(r) for r in rows]

    def all_versions(self, *, include_deleted: bool = False) -> list[FunctionRow]:
        return [self._function_row(r) for r in self._all(
            f"SELECT * FROM functions WHERE 1 = 1{_live(include_deleted)} ORDER BY rowid")]

    def function_ids(self, *, include_deleted: bool = False) -> list[str]:
        rows = self._all(
            f"SELECT function_id, MIN(rowid) AS first FROM functions WHERE 1 = 1{_live(include_deleted)}"
            " GROUP BY function_id ORDER BY first"
        )
        return [r["function_id"] for r in rows]

    def set_status(self, version_id: str, status: str) -> None:
        self._run("UPDATE functions SET status = ? WHERE version_id = ?", (status, version_id))

    def status_of(self, version_id: str) -> str | None:
        row = self._one("SELECT status FROM functions WHERE version_id = ?", (version_id,))
        return row["status"] if row else None

    def mark_deleted(self, version_id: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM deployments WHERE version_id = ?", (version_id,))
            conn.execute(
                "UPDATE functions SET status = 'DELETED', deleted_at = ? WHERE version_id = ?",
                (now_iso(), version_id),
            )

    # --- deployments ------------------------------------------------------------------------------

    def add_deployment(self, deployment: Deployment, status: str = "DEPLOYING") -> DeploymentRow:
        """Store the deployment and move its function to `status` in one step."""
        now = now_iso()
        specs = json.dumps([dict(s.raw) for s in deployment.specifications])
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO deployments (version_id, deployment_id, function_id, specifications,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (deployment.version_id, deployment.deployment_id, deployment.function_id, specs, now, now),
            )
            conn.execute("UPDATE functions SET status = ? WHERE version_id = ?", (status, deployment.version_id))
        return DeploymentRow(deployment, (), (), None, now, now)

    @staticmethod
    def _deployment_row(row: sqlite3.Row) -> DeploymentRow:
        raws = _with_spec_ids(row["deployment_id"], json.loads(row["specifications"]))
        specs = tuple(spec_from_raw(raw) for raw in raws)
        dep = Deployment(row["deployment_id"], row["function_id"], row["version_id"], specs)
        return DeploymentRow(
            dep, tuple(json.loads(row["health_info"])), tuple(json.loads(row["instances"])), row["reason"],
            row["created_at"], row["updated_at"],
        )

    def get_deployment(self, version_id: str) -> DeploymentRow | None:
        row = self._one("SELECT * FROM deployments WHERE version_id = ?", (version_id,))
        return self._deployment_row(row) if row else None

    def get_deployment_by_id(self, deployment_id: str) -> DeploymentRow | None:
        row = self._one("SELECT * FROM deployments WHERE deployment_id = ?", (deployment_id,))
        return self._deployment_row(row) if row else None

    def update_specifications(self, version_id: str, specifications: list[dict[str, Any]]) -> DeploymentRow | None:
        """Replace the deployment's specifications (an update of its counts); None when it is gone."""
        self._run("UPDATE deployments SET specifications = ?, updated_at = ? WHERE version_id = ?",
                  (json.dumps(specifications), now_iso(), version_id))
        return self.get_deployment(version_id)

    def deployments_in(self, statuses: Iterable[str]) -> list[tuple[FunctionRow, DeploymentRow]]:
        wanted = list(statuses)
        marks = ",".join("?" for _ in wanted)
        found: list[tuple[FunctionRow, DeploymentRow]] = []
        for ref in self._all(
            f"SELECT d.version_id FROM deployments d JOIN functions f USING (version_id)"
            f" WHERE f.deleted_at IS NULL AND f.status IN ({marks}) ORDER BY d.rowid",
            wanted,
        ):
            fn = self._one("SELECT * FROM functions WHERE version_id = ?", (ref["version_id"],))
            dep = self.get_deployment(ref["version_id"])
            if fn is not None and dep is not None:
                found.append((self._function_row(fn), dep))
        return found

    def record_progress(
        self,
        version_id: str,
        status: str,
        *,
        reason: str | None,
        health_info: list[dict[str, Any]] | None = None,
        instances: list[dict[str, Any]] | None = None,
    ) -> None:
        """Apply one deployer report: function status, and the deployment's reason/health/instances."""
        with self._tx() as conn:
            conn.execute("UPDATE functions SET status = ? WHERE version_id = ?", (status, version_id))
            sets = ["reason = ?", "updated_at = ?"]
            args: list[Any] = [reason, now_iso()]
            if health_info is not None:
                sets.append("health_info = ?")
                args.append(json.dumps(health_info))
            if instances is not None:
                sets.append("instances = ?")
                args.append(json.dumps(instances))
            conn.execute(f"UPDATE deployments SET {', '.join(sets)} WHERE version_id = ?", (*args, version_id))

    def remove_deployment(self, version_id: str, status: str = "INACTIVE") -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM deployments WHERE version_id = ?", (version_id,))
            conn.execute("UPDATE functions SET status = ? WHERE version_id = ?", (status, version_id))

    # --- invocations ------------------------------------------------------------------------------

    def add_invocation(self, request_id: str, function_id: str, version_id: str) -> None:
        now = now_iso()
        self._run(
            "INSERT INTO invocations (request_id, function_id, version_id, state, created_at, updated_at)"
            " VALUES (?, ?, ?, 'pending', ?, ?)",
            (request_id, function_id, version_id, now, now),
        )

    def finish_invocation(
        self, request_id: str, status_code: int, headers: Iterable[tuple[str, str]], body: bytes
    ) -> None:
        self._run(
            "UPDATE invocations SET state = 'done', status_code = ?, headers = ?, body = ?, updated_at = ?"
            " WHERE request_id = ?",
            (status_code, json.dumps([list(h) for h in headers]), body, now_iso(), request_id),
        )

    def get_invocation(self, request_id: str) -> InvocationRow | None:
        row = self._one("SELECT * FROM invocations WHERE request_id = ?", (request_id,))
        if row is None:
            return None
        headers = tuple((k, v) for k, v in json.loads(row["headers"] or "[]"))
        return InvocationRow(
            row["request_id"], row["function_id"], row["version_id"], row["state"], row["status_code"],
            headers, bytes(row["body"] or b""), row["created_at"], row["updated_at"],
        )

    def pending_invocations(self) -> list[str]:
        return [r["request_id"] for r in self._all("SELECT request_id FROM invocations WHERE state = 'pending'")]
