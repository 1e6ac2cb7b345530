"""A small client of the OCI distribution API: ping, read and copy manifests, mount blobs, delete.

Used where `helm` has no verb: checking that the registry still answers (preflight, and when a
refusal might be the registry's fault), publishing a chart under a second repository name, and
pruning a run's charts. Registries authenticate either with HTTP basic auth (CNCF distribution with
htpasswd, the embedded one) or with a bearer token fetched from the realm of a `WWW-Authenticate`
challenge; both are handled here, per repository scope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import httpx

from conformance.charts.naming import RegistryAddress

MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json")
_ACCEPT = ", ".join(MANIFEST_TYPES)


class RegistryProblem(Exception):
    """The registry did not do what was asked; the message says what it answered."""


@dataclass
class Registry:
    address: RegistryAddress
    username: str
    password: str
    timeout: float = 10.0
    _tokens: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def base(self) -> str:
        return f"{'http' if self.address.plain_http else 'https'}://{self.address.host_port}/v2"

    def _request(self, method: str, path: str, *, scope: str | None = None, headers: dict[str, str] | None = None,
                 content: bytes | None = None) -> httpx.Response:
        """One request, authenticated as the registry asks (basic, or a bearer token for `scope`)."""
        sent = dict(headers or {})
        url = self.base + path
        with httpx.Client(timeout=self.timeout) as client:
            token = self._tokens.get(scope or "")
            if token:
                reply = client.request(method, url, headers={**sent, "Authorization": f"Bearer {token}"},
                                       content=content)
                if reply.status_code != 401:
                    return reply
            reply = client.request(method, url, headers=sent, content=content, auth=(self.username, self.password))
            challenge = reply.headers.get("www-authenticate", "")
            if reply.status_code == 401 and challenge.lower().startswith("bearer"):
                token = self._bearer(client, challenge[len("bearer"):].strip(), scope)
                if token:
                    self._tokens[scope or ""] = token
                    reply = client.request(method, url, headers={**sent, "Authorization": f"Bearer {token}"},
                                           content=content)
        return reply

    def _bearer(self, client: httpx.Client, challenge: str, scope: str | None) -> str | None:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", None)
        if not realm:
            return None
        if scope:
            params["scope"] = scope
        reply = client.get(realm, params=params, auth=(self.username, self.password))
        if reply.status_code != 200:
            return None
        body = reply.json()
        return body.get("token") or body.get("access_token")

    # ── questions ────────────────────────────────────────────────────────────────────────────────

    def problem(self) -> str | None:
        """Why the registry cannot be used with our credentials right now, or None when it can."""
        try:
            reply = self._request("GET", "/")
        except httpx.HTTPError as exc:
            return f"registry {self.address.host_port} cannot be reached ({type(exc).__name__}: {exc})"
        if reply.status_code in (401, 403):
            return f"registry {self.address.host_port} refuses the configured credentials ({reply.status_code})"
        if reply.status_code >= 400:
            return f"registry {self.address.host_port} answered {reply.status_code} to GET /v2/"
        return None

    def digest(self, repository: str, reference: str) -> str | None:
        """The manifest digest `repository:reference` resolves to, or None when unknown or unreachable."""
        try:
            reply = self._request("HEAD", f"/{repository}/manifests/{reference}", scope=_pull(repository),
                                  headers={"Accept": _ACCEPT})
        except httpx.HTTPError:
            return None
        return reply.headers.get("docker-content-digest") if reply.status_code == 200 else None

    def repositories(self, prefix: str) -> list[str]:
        """The repositories whose names start with `prefix/` (the registry's catalog, all pages)."""
        found: list[str] = []
        path: str | None = "/_catalog?n=1000"
        while path:
            reply = self._checked("GET", path, "registry:catalog:*")
            found += [r for r in reply.json().get("repositories") or [] if str(r).startswith(prefix.rstrip("/") + "/")]
            path = _next_page(reply)
        return found

    def tags(self, repository: str) -> list[str]:
        reply = self._checked("GET", f"/{repository}/tags/list", _pull(repository), expect=(200, 404))
        return list(reply.json().get("tags") or []) if reply.status_code == 200 else []

    # ── changes ──────────────────────────────────────────────────────────────────────────────────

    def copy(self, source: str, reference: str, target: str, tag: str) -> str:
        """Publish the manifest `source:reference` as `target:tag` too (blobs mounted, not copied)."""
        scope = f"{_pull(source)} {_push(target)}"
        reply = self._checked("GET", f"/{source}/manifests/{reference}", scope, {"Accept": _ACCEPT})
        media_type = reply.headers.get("content-type", MANIFEST_TYPES[0]).split(";")[0]
        manifest = reply.json()
        blobs = [manifest.get("config") or {}, *(manifest.get("layers") or [])]
        for blob in blobs:
            digest = blob.get("digest")
            if digest:
                self._checked("POST", f"/{target}/blobs/uploads/?mount={digest}&from={source}", scope, expect=(201,))
        put = self._checked("PUT", f"/{target}/manifests/{tag}", scope, {"Content-Type": media_type},
                            content=reply.content, expect=(201,))
        return put.headers.get("docker-content-digest", "")

    def delete(self, repository: str, digest: str) -> bool:
        """Delete the manifest `digest`; False when the registry does not allow deletes (405) or lacks it."""
        reply = self._request("DELETE", f"/{repository}/manifests/{digest}", scope=f"repository:{repository}:delete")
        return reply.status_code in (200, 202)

    def _checked(self, method: str, path: str, scope: str, headers: dict[str, str] | None = None, *,
                 content: bytes | None = None, expect: tuple[int, ...] = (200,)) -> httpx.Response:
        try:
            reply = self._request(method, path, scope=scope, headers=headers, content=content)
        except httpx.HTTPError as exc:
            raise RegistryProblem(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if reply.status_code not in expect:
            raise RegistryProblem(f"{method} {path} answered {reply.status_code}: {reply.text[:200]}")
        return reply


def _next_page(reply: httpx.Response) -> str | None:
    """The next page of a paginated list (`Link: </v2/_catalog?last=x&n=1000>; rel="next"`), or None."""
    found = re.search(r'<(?:/v2)?([^>]+)>;\s*rel="next"', reply.headers.get("link", ""))
    return found.group(1) if found else None


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push(repository: str) -> str:
    return f"repository:{repository}:pull,push"
