"""The secret strings a report must never contain, gathered from everywhere a run gets credentials.

Over-collecting is cheap (a value is only searched for), under-collecting leaks: so every
credential-looking value of the target config, every credential-looking NVCF_* variable and the
embedded registry's password all count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from conformance.secrets import is_secret_env, is_secret_key, plausible


def _from_config(data: Any, key: str = "") -> Iterator[str]:
    if isinstance(data, Mapping):
        for k, v in data.items():
            yield from _from_config(v, str(k))
    elif isinstance(data, list):
        for v in data:
            yield from _from_config(v, key)
    elif (isinstance(data, str | int) and not isinstance(data, bool)
          and is_secret_key(key)):
        yield str(data)


def from_target_config(path: str | Path | None) -> list[str]:
    if not path:
        return []
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []  # the plugin reports a broken config; here there is simply nothing to collect
    return list(_from_config(data))


def from_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    return [v for k, v in environ.items() if is_secret_env(k) and v]


def from_embedded_env() -> list[str]:
    try:
        from conformance.env import state

        data = state.load() or {}
    except Exception:  # no readable state simply means no embedded registry password
        return []
    password = (data.get("registry") or {}).get("password")
    return [password] if isinstance(password, str) and password else []


def collect(target_config: str | Path | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    found = [*from_target_config(target_config), *from_environment(environ), *from_embedded_env()]
    return list(dict.fromkeys(s for s in found if plausible(s)))
