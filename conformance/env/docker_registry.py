"""CNCF distribution as a Docker container with htpasswd auth: the registry of the kind path.

`DockerRegistryContainer` implements the `Registry` protocol of `conformance.env.registry`, like the
embedded `LocalRegistry` process, on top of testcontainers' `DockerContainer`. It needs a Docker
engine and the registry image:

- The image defaults to `registry:2`. `NVCF_REGISTRY_IMAGE` (or the `image` argument) names another
  one, because on a machine without a registry mirror nothing can be pulled: point it at an image
  that is already in the engine's image store (a retagged `registry:3`, a locally built distribution).
- Auth is always on: a bcrypt htpasswd entry is copied into the container before it starts, and a
  random password is made with `secrets.token_urlsafe` when none is given.
- The host port is bound on 127.0.0.1 only (a registry with a test password has no business on the
  LAN); port 0 lets the engine pick a free one.
- `network` creates the container on a user-defined network: `env up --cluster kind` puts it on
  kind's, so the nodes reach it by container name (and its own dockerd has no default bridge).

A small command line starts and stops one by hand (`env up --cluster kind` uses the class)::

    python -m conformance.env.docker_registry start --name kind-registry --port 5001 --state FILE
    python -m conformance.env.docker_registry stop --state FILE

`start` prints the endpoint as JSON (with the password) on stdout and records the container id in the
state file; the container outlives the command. `stop` removes the container the state file names.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from conformance.env.registry import RegistryEndpoint, htpasswd_line
from conformance.errors import ConformanceError

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

DEFAULT_IMAGE = "registry:2"
IMAGE_ENV = "NVCF_REGISTRY_IMAGE"
CONTAINER_PORT = 5000
HTPASSWD_PATH = "/auth/htpasswd"
REALM = "nvcf-conformance"
ROLE_LABEL = "nvcf-conformance.io/role"
RYUK_ENV = "TESTCONTAINERS_RYUK_DISABLED"


def _one_line(text: object, limit: int = 240) -> str:
    """Docker and requests errors span lines and nest reprs; the CLI prints exactly one line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _no_engine(exc: BaseException) -> ConformanceError:
    return ConformanceError(
        f"no Docker engine answers at {_docker_host()} ({_one_line(exc, 160)}); the kind path needs one, "
        "the embedded environment (`make conformance`) does not"
    )


def _disable_ryuk_unless_asked() -> None:
    # Ryuk is testcontainers' reaper container, pulled from Docker Hub on first use; offline that pull
    # fails and takes the whole start with it. We remove our container ourselves (stop(), `env down`),
    # and the kind registry must outlive this process anyway, which Ryuk would prevent. An explicit
    # TESTCONTAINERS_RYUK_DISABLED=false still turns it back on.
    if RYUK_ENV in os.environ:
        return
    from testcontainers.core.config import testcontainers_config

    testcontainers_config.ryuk_disabled = True


def _docker_client() -> Any:
    """A docker-py client that has answered a ping, or a one-line ConformanceError."""
    import docker
    import docker.errors
    import requests

    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise _no_engine(exc) from None
    return client


class DockerRegistryContainer:
    """One registry container; `start()` returns the endpoint once auth is known to work."""

    def __init__(
        self,
        *,
        image: str | None = None,
        username: str = "conformance",
        password: str | None = None,
        host_port: int = 0,
        bind_host: str = "127.0.0.1",
        name: str | None = None,
        restart_always: bool = False,
        pull: bool = True,
        ready_timeout: float = 60.0,
        network: str | None = None,
    ) -> None:
        self.image = image or os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE
        self.username = username
        self.password = password or secrets.token_urlsafe(18)
        self.host_port = host_port
        self.bind_host = bind_host
        self.name = name
        self.restart_always = restart_always
        self.pull = pull
        self.ready_timeout = ready_timeout
        # A user-defined network (kind's) to create the container on: its nodes then resolve the
        # registry by container name, and an engine without a default bridge can still publish it.
        self.network = network
        # Hashed once: bcrypt salts differ per call, and tests compare what start() copies in.
        self.htpasswd = htpasswd_line(username, self.password)
        self._container: DockerContainer | None = None
        self._bound_port: int | None = None

    def __repr__(self) -> str:
        return (
            f"DockerRegistryContainer(image={self.image!r}, username={self.username!r}, password='***', "
            f"host_port={self.host_port!r}, name={self.name!r})"
        )

    def container_env(self) -> dict[str, str]:
        """The environment that switches distribution's htpasswd auth on (its config-by-env names)."""
        return {
            "REGISTRY_AUTH": "htpasswd",
            "REGISTRY_AUTH_HTPASSWD_REALM": REALM,
            "REGISTRY_AUTH_HTPASSWD_PATH": HTPASSWD_PATH,
            # Lets a run clean up the charts it pushed; the registry is throw-away anyway.
            "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        }

    @property
    def address_host(self) -> str:
        # A wildcard bind is still reached over loopback; keep clients on 127.0.0.1.
        return "127.0.0.1" if self.bind_host in ("", "0.0.0.0") else self.bind_host

    @property
    def endpoint(self) -> RegistryEndpoint:
        port = self._bound_port or self.host_port
        if not port:
            raise ConformanceError("the registry container has no port yet: call start() first")
        return RegistryEndpoint(f"{self.address_host}:{port}", self.username, self.password)

    @property
    def container_id(self) -> str:
        if self._container is None or self._container._container is None:
            raise ConformanceError("the registry container is not running")
        return str(self._container._container.id)

    def start(self) -> RegistryEndpoint:
        import docker.errors
        import requests

        _disable_ryuk_unless_asked()
        self._ensure_image()
        container = self._build()
        self._container = container
        try:
            container.start()
        except docker.errors.APIError as exc:
            self._discard_quietly()
            if exc.status_code == 409:
                raise ConformanceError(
                    f"a container named {self.name!r} already exists: remove it (`make kind-down` or "
                    f"`docker rm -f {self.name}`) and retry"
                ) from None
            raise ConformanceError(
                f"docker could not start the registry container from {self.image}: {_one_line(exc.explanation or exc)}"
            ) from None
        except docker.errors.DockerException as exc:
            self._discard_quietly()
            raise ConformanceError(
                f"docker could not start the registry container from {self.image}: {_one_line(exc)}"
            ) from None
        except (requests.RequestException, OSError) as exc:
            self._discard_quietly()
            raise _no_engine(exc) from None
        try:
            self._bound_port = self._read_bound_port()
            self._wait_ready()
        except ConformanceError:
            self._discard_quietly()
            raise
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            self._discard_quietly()
            raise ConformanceError(f"the registry container failed while starting: {_one_line(exc)}") from None
        except BaseException:
            # Ctrl-C while waiting must not leave a container behind either.
            self._discard_quietly()
            raise
        return self.endpoint

    def stop(self) -> None:
        """Remove the container (and its anonymous storage volume); a no-op when not started."""
        self._discard()

    def _build(self) -> DockerContainer:
        import docker.errors
        import requests
        from testcontainers.core.container import DockerContainer

        try:
            container = DockerContainer(self.image)
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise _no_engine(exc) from None
        container.with_envs(**self.container_env())
        # Copied between create and start, so the registry never runs without its password file.
        container.with_copy_into_container(self.htpasswd.encode(), HTPASSWD_PATH, 0o644)
        # testcontainers binds exposed ports on every interface; docker-py's (ip, port) form keeps it
        # on loopback, and an empty port lets the engine choose.
        binding: Any = (self.bind_host, self.host_port or None)
        container.ports = {f"{CONTAINER_PORT}/tcp": binding}
        if self.name:
            container.with_name(self.name)
        kwargs: dict[str, Any] = {"labels": {ROLE_LABEL: "registry"}}
        if self.network:
            kwargs["network"] = self.network
        if self.restart_always:
            # Survives an engine restart like kind's own nodes do, so the cluster keeps its registry.
            kwargs["restart_policy"] = {"Name": "always"}
        container.with_kwargs(**kwargs)
        return container

    def _ensure_image(self) -> None:
        import docker.errors
        import requests

        hint = f"set {IMAGE_ENV} to a registry image already in the engine's image store"
        client = _docker_client()
        try:
            try:
                client.images.get(self.image)
                return
            except docker.errors.ImageNotFound:
                pass
            except docker.errors.APIError as exc:
                raise ConformanceError(f"docker cannot inspect image {self.image}: {_one_line(exc)}") from None
            if not self.pull:
                raise ConformanceError(f"image {self.image} is not present locally and pulling is off: {hint}")
            try:
                client.images.pull(self.image)
            except (docker.errors.DockerException, requests.RequestException) as exc:
                raise ConformanceError(f"cannot pull image {self.image} ({_one_line(exc, 160)}): {hint}") from None
        finally:
            client.close()

    def _read_bound_port(self) -> int:
        assert self._container is not None
        wrapped = self._container.get_wrapped_container()
        wrapped.reload()
        bindings = (wrapped.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{CONTAINER_PORT}/tcp")
        if not bindings:
            raise ConformanceError(f"the registry container {wrapped.short_id} published no port")
        return int(bindings[0]["HostPort"])

    def _wait_ready(self) -> None:
        """Ready means anonymous `/v2/` is refused and the credentials are accepted: auth is really on."""
        assert self._container is not None
        url = f"http://{self.endpoint.address}/v2/"
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer"
        # trust_env=False: an HTTP(S)_PROXY in the environment must not capture a loopback address.
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while time.monotonic() < deadline:
                status = self._container.get_wrapped_container()
                status.reload()
                if status.status in ("exited", "dead"):
                    raise ConformanceError(f"registry container {status.short_id} exited: {self._last_log_line()}")
                try:
                    anon = client.get(url)
                    authed = client.get(url, auth=(self.username, self.password))
                    if anon.status_code == 401 and authed.status_code == 200:
                        return
                    last = f"anonymous {anon.status_code}, authenticated {authed.status_code}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                time.sleep(0.25)
        raise ConformanceError(
            f"registry container not ready after {self.ready_timeout:.0f}s at {url} ({last}): {self._last_log_line()}"
        )

    def _last_log_line(self) -> str:
        try:
            assert self._container is not None
            out, err = self._container.get_logs()
        except Exception:  # the logs are a courtesy in an error message, never a second failure
            return "no log"
        lines = (err or out).decode(errors="replace").strip().splitlines()
        return _one_line(lines[-1]) if lines else "empty log"

    def _discard_quietly(self) -> None:
        # Called while another error is on its way to the user; a second one would only hide it.
        with contextlib.suppress(ConformanceError):
            self._discard()

    def _discard(self) -> None:
        import docker.errors
        import requests

        container, self._container, self._bound_port = self._container, None, None
        if container is None:
            return
        try:
            container.stop()
        except docker.errors.NotFound:
            pass
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise ConformanceError(f"could not remove the registry container: {_one_line(exc)}") from None


def remove_container(container_id: str) -> bool:
    """Force-remove one container by id; False when it was already gone."""
    import docker.errors
    import requests

    client = _docker_client()
    try:
        client.containers.get(container_id).remove(force=True, v=True)
    except docker.errors.NotFound:
        return False
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ConformanceError(f"could not remove container {container_id[:12]}: {_one_line(exc)}") from None
    finally:
        client.close()
    return True


def container_exists(container_id: str) -> bool:
    import docker.errors

    client = _docker_client()
    try:
        client.containers.get(container_id)
    except docker.errors.NotFound:
        return False
    finally:
        client.close()
    return True


def _read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConformanceError(f"{path}: cannot read the registry state: {exc.strerror}") from None
    except json.JSONDecodeError:
        raise ConformanceError(f"{path}: the registry state is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("container_id"), str):
        raise ConformanceError(f"{path}: the registry state has no container_id")
    return data


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _cmd_start(args: argparse.Namespace) -> int:
    state = Path(args.state)
    if state.exists():
        previous = _read_state(state)
        if container_exists(previous["container_id"]):
            raise ConformanceError(
                f"{state} names a registry container that still exists ({previous['container_id'][:12]}): "
                "take it down first (`make kind-down`)"
            )
    registry = DockerRegistryContainer(
        image=args.image,
        username=args.username,
        host_port=args.port,
        name=args.name,
        restart_always=args.restart_always,
        pull=args.pull,
    )
    endpoint = registry.start()
    # No password here: the state only has to find the container again; the credentials go to stdout.
    record = {
        "container_id": registry.container_id,
        "name": args.name,
        "image": registry.image,
        "address": endpoint.address,
        "username": endpoint.username,
    }
    _write_private(state, json.dumps(record, indent=2) + "\n")
    print(json.dumps({"address": endpoint.address, "username": endpoint.username, "password": endpoint.password}))
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    state = Path(args.state)
    if not state.exists():
        print(f"no registry state at {state}: nothing to stop", file=sys.stderr)
        return 0
    record = _read_state(state)
    removed = remove_container(record["container_id"])
    state.unlink()
    what = "removed" if removed else "was already gone:"
    print(f"registry container {record['container_id'][:12]} {what}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.env.docker_registry",
        description="Run the kind path's OCI registry as a Docker container with htpasswd auth.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start the container; print the endpoint JSON (with password)")
    start.add_argument("--name", default="kind-registry", help="container name (kind nodes resolve it)")
    start.add_argument("--port", type=int, default=5001, help="host port on 127.0.0.1 (0: any free one)")
    start.add_argument("--state", required=True, help="file that records the container id for `stop`")
    start.add_argument("--image", default=None, help=f"registry image (default ${IMAGE_ENV} or {DEFAULT_IMAGE})")
    start.add_argument("--username", default="conformance")
    start.add_argument(
        "--no-restart",
        dest="restart_always",
        action="store_false",
        help="do not restart the container with the engine",
    )
    start.add_argument("--no-pull", dest="pull", action="store_false", help="fail instead of pulling a missing image")
    start.set_defaults(func=_cmd_start)
    stop = sub.add_parser("stop", help="remove the container recorded in the state file")
    stop.add_argument("--state", required=True)
    stop.set_defaults(func=_cmd_stop)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConformanceError as exc:
        print(f"docker_registry: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
