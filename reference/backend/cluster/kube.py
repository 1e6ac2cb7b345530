"""One Kubernetes connection for the back half, with async wrappers around the (blocking) client.

Objects are read as plain JSON-shaped dicts (`_preload_content=False`): the rest of the back half
reads them with `dig`, the same way it reads rendered chart objects, and skips the client's model
classes, which are slow and drop fields they do not know.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config, dynamic
from kubernetes.dynamic.exceptions import ResourceNotFoundError

T = TypeVar("T")
ApiException = client.ApiException


class Kube:
    def __init__(self, kubeconfig: Path, *, context: str | None = None, discovery_cache: Path | None = None) -> None:
        self.api_client = config.new_client_from_config(str(kubeconfig), context=context)
        self.core = client.CoreV1Api(self.api_client)
        self.discovery = client.DiscoveryV1Api(self.api_client)
        self._discovery_cache = discovery_cache
        self._dynamic: dynamic.DynamicClient | None = None
        self._dynamic_lock = threading.Lock()

    @property
    def dynamic(self) -> dynamic.DynamicClient:
        # Built on first use: discovery costs a round of API calls that validation-only callers skip.
        with self._dynamic_lock:
            if self._dynamic is None:
                cache = str(self._discovery_cache) if self._discovery_cache else None
                self._dynamic = dynamic.DynamicClient(self.api_client, cache_file=cache)
            return self._dynamic

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def resource(self, api_version: str, kind: str) -> Any:
        """The dynamic resource for apiVersion/kind; refreshes discovery once (a CRD may be new)."""
        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            self.dynamic.resources.invalidate_cache()
            return self.dynamic.resources.get(api_version=api_version, kind=kind)

    # ── reads as dicts ────────────────────────────────────────────────────────────────────────

    @staticmethod
    def _json(response: Any) -> dict[str, Any]:
        data = json.loads(response.data)
        return data if isinstance(data, dict) else {}

    def _items(self, response: Any) -> list[dict[str, Any]]:
        items = self._json(response).get("items")
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    async def pods(self, namespace: str) -> list[dict[str, Any]]:
        return self._items(await self.run(self.core.list_namespaced_pod, namespace, _preload_content=False))

    async def endpoint_slices(self, namespace: str, service: str) -> list[dict[str, Any]]:
        return self._items(await self.run(
            self.discovery.list_namespaced_endpoint_slice, namespace,
            label_selector=f"kubernetes.io/service-name={service}", _preload_content=False,
        ))

    async def warning_events(self, namespace: str) -> list[dict[str, Any]]:
        return self._items(await self.run(self.core.list_namespaced_event, namespace, field_selector="type=Warning",
                                          _preload_content=False))

    async def nodes(self, label_selector: str) -> list[dict[str, Any]]:
        return self._items(await self.run(self.core.list_node, label_selector=label_selector, _preload_content=False))

    async def claims(self, namespace: str) -> list[dict[str, Any]]:
        return self._items(await self.run(self.core.list_namespaced_persistent_volume_claim, namespace,
                                          _preload_content=False))

    async def services(self, namespace: str) -> list[dict[str, Any]]:
        return self._items(await self.run(self.core.list_namespaced_service, namespace, _preload_content=False))

    async def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._read(self.core.read_namespaced_service, name, namespace)

    async def config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._read(self.core.read_namespaced_config_map, name, namespace)

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._read(self.core.read_namespaced_secret, name, namespace)

    async def namespace(self, name: str) -> dict[str, Any] | None:
        return await self._read(self.core.read_namespace, name)

    async def _read(self, fn: Callable[..., Any], *args: Any) -> dict[str, Any] | None:
        try:
            return self._json(await self.run(fn, *args, _preload_content=False))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def close(self) -> None:
        self.api_client.close()


def api_error(exc: ApiException) -> str:
    """The API server's own message (from its Status body) rather than the client's dump of the response."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or exc.reason or f"HTTP {exc.status}")
