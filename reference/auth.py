"""Bearer tokens with scopes, loaded from a file or generated at start.

Tokens are kept only as SHA-256 digests in memory and are never written to a log or an error: a
problem detail says *that* a token is unknown, not which.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reference import rules
from reference.errors import ConfigError
from reference.problems import Problem

# Scope names follow self-hosted NVCF's NVCF_TOKEN / NVCF_API_KEY.
MANAGEMENT_SCOPES: tuple[str, ...] = (
    "register_function", "list_functions", "list_functions_details", "deploy_function", "update_function",
    "update_secrets", "delete_function", "manage_telemetries", "manage_registry_credentials",
    "cluster-management",
)
API_KEY_SCOPES: tuple[str, ...] = ("invoke_function", "list_functions", "queue_details", "list_functions_details")
ALL_SCOPES: tuple[str, ...] = tuple(dict.fromkeys(MANAGEMENT_SCOPES + API_KEY_SCOPES))

LIST_SCOPES = ("list_functions", "list_functions_details")


@dataclass(frozen=True)
class Principal:
    name: str
    scopes: frozenset[str]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class TokenRegistry:
    def __init__(self, entries: Mapping[str, Principal]) -> None:
        self._by_digest = {_digest(tok): principal for tok, principal in entries.items()}

    def __len__(self) -> int:
        return len(self._by_digest)

    def lookup(self, token: str) -> Principal | None:
        wanted = _digest(token)
        found: Principal | None = None
        # Compare against every entry in constant time, so timing says nothing about near misses.
        for digest, principal in self._by_digest.items():
            if hmac.compare_digest(digest, wanted):
                found = principal
        return found

    @classmethod
    def from_file(cls, path: Path) -> TokenRegistry:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read the tokens file {path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"the tokens file {path} is neither YAML nor JSON: {exc}") from exc
        return cls(parse_tokens(data, str(path)))


def parse_tokens(data: Any, source: str) -> dict[str, Principal]:
    """`{tokens: {TOKEN: {name, scopes: [...]}}}` (or the inner mapping alone) → token → Principal."""
    if isinstance(data, dict) and "tokens" in data:
        data = data["tokens"]
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{source}: expected a mapping 'tokens' of token → {{name, scopes}}, with at least one")
    out: dict[str, Principal] = {}
    for index, (token, entry) in enumerate(data.items()):
        where = f"{source}: tokens entry #{index + 1}"
        if not isinstance(token, str) or not token.strip():
            raise ConfigError(f"{where}: the token must be a non-empty string")
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected {{name, scopes}}")
        name = entry.get("name", f"token-{index + 1}")
        scopes = entry.get("scopes", [])
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: 'name' must be a non-empty string")
        if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
            raise ConfigError(f"{where} ({name}): 'scopes' must be a list of scope names")
        out[token] = Principal(name, frozenset(scopes))
    return out


def generate_tokens_file(path: Path) -> dict[str, Any]:
    """Write a fresh admin token and API key, readable by owner only.

    They carry the scopes of self-hosted NVCF's two credentials: the admin token NVCF_TOKEN's
    management scopes (no `invoke_function`), the API key NVCF_API_KEY's invocation scopes, so each is
    refused (403) where the other one belongs, as there.
    """
    admin, api_key = (f"nvcf-ref-{secrets.token_urlsafe(32)}" for _ in range(2))
    document = {
        "tokens": {
            admin: {"name": "admin", "scopes": list(MANAGEMENT_SCOPES)},
            api_key: {"name": "api-key", "scopes": list(API_KEY_SCOPES)},
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: never overwrite a file someone else wrote between our check and this call.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=2)
        fh.write("\n")
    return document


def load_or_generate(path: Path) -> tuple[TokenRegistry, bool]:
    """Load `path`, or create it with generated tokens when it does not exist. Returns (registry, generated)."""
    if path.exists():
        return TokenRegistry.from_file(path), False
    try:
        generate_tokens_file(path)
    except FileExistsError:  # another process won the race: use its tokens
        return TokenRegistry.from_file(path), False
    except OSError as exc:
        raise ConfigError(f"cannot write the tokens file {path}: {exc.strerror or exc}") from exc
    return TokenRegistry.from_file(path), True


# --- request side ----------------------------------------------------------------------------------

def _challenge(error: str | None = None) -> dict[str, str]:
    value = 'Bearer realm="nvcf"'
    if error:
        value += f', error="{error}"'
    return {"WWW-Authenticate": value}


def authorize(request: Request, scopes: tuple[str, ...]) -> Principal:
    """The caller, if its bearer token is known and holds one of `scopes`; otherwise a 401/403 problem."""
    registry: TokenRegistry = request.app.state.tokens
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Problem(401, "this operation needs a bearer token (Authorization: Bearer <token>)",
                      headers=_challenge())
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "the Authorization header must have the form 'Bearer <token>'",
                      headers=_challenge("invalid_request"))
    principal = registry.lookup(token.strip())
    violations: frozenset[str] = getattr(getattr(request.app.state, "config", None), "violations", frozenset())
    if principal is None and rules.API_AUTH_REQUIRED in violations:
        principal = Principal("unknown", frozenset(ALL_SCOPES))
    if principal is None:
        raise Problem(401, "the bearer token is not known to this server", headers=_challenge("invalid_token"))
    if scopes and not principal.scopes.intersection(scopes) and rules.API_AUTH_SCOPE not in violations:
        needed = " or ".join(f"'{s}'" for s in scopes)
        raise Problem(403, f"the token '{principal.name}' lacks the scope {needed} that this operation needs")
    request.state.principal = principal
    return principal


# Declared so the OpenAPI document shows the scheme; the check itself is `authorize`, which answers
# with our problem documents instead of FastAPI's plain errors.
_bearer = HTTPBearer(auto_error=False, description="A token from the tokens file; scopes decide what it may do.")


def require(*scopes: str) -> Any:
    """A dependency: `principal: Annotated[Principal, require("deploy_function")]`."""

    async def check(
        request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
    ) -> Principal:
        return authorize(request, scopes)

    return Depends(check)
