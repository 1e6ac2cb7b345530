"""What the harness counts as a secret: one definition for the transcript redactor, the report's
scrubber and guard, the run's secret collector and the target configuration's secret keys.

Kept in one place because the four drifted apart when each kept its own patterns: a key one of them
masked, another let through.
"""

from __future__ import annotations

import re

# Headers whose value is a credential whatever it looks like.
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "nvcf-api-key"}
)

# Keys (config, JSON, env-style) whose values are credentials: token, apiKey, registry password, …
_SECRET_KEY = re.compile(r"(token|api[-_]?key|password|passwd|secret|credential|private[-_]?key|^auth$)", re.I)
# …but a key that only points at a credential (tokenEnv, passwordFile, secretName) is evidence, not one.
_POINTER_KEY = re.compile(r"(name|names|file|path|env|ref|url)$", re.I)

# `key: value` / `"key": "value"` / `key=value` in free text, with a credential-named key.
KEYED_VALUE = re.compile(
    r'(?i)("?(?:password|passwd|token|api[-_]?key|apikey|secret|credentials?|private[-_]?key)"?\s*[:=]\s*"?)'
    r'([^"\s,}]+)'
)

# Environment variables of ours that carry credentials (NVCF_TOKEN, NVCF_REGISTRY_PASSWORD, …).
_SECRET_ENV = re.compile(r"^NVCF_.*(TOKEN|API_KEY|KEY|PASSWORD|SECRET|CREDENTIALS?)$")

# Real credentials are long; a short or numeric value under a credential-ish key (`tokenTtl: 300`,
# `secretMode: auto`) is a setting, and searching reports for it would refuse every one.
MIN_SECRET_LEN = 8


def is_secret_key(key: str) -> bool:
    """A configuration or object key whose value is a credential (not a pointer to one)."""
    return bool(_SECRET_KEY.search(key)) and not _POINTER_KEY.search(key)


def is_secret_env(name: str) -> bool:
    return bool(_SECRET_ENV.match(name))


def plausible(value: str) -> bool:
    """Long enough, and not a number, to be worth searching for as a secret."""
    return len(value.strip()) >= MIN_SECRET_LEN and not value.strip().isdigit()
