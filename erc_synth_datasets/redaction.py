"""Keeping secrets out of everything that is logged or stored: API keys, credential headers, URL user-info.

Every message that a run records (rejection records, manifests, log lines) passes through `redact_text`; every URL
that is recorded passes through `redact_url`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED", "redact_text", "redact_url"]

REDACTED = "***"

# A header line or JSON/dict pair carrying a credential: `Authorization: Bearer x`, `"api-key": "x"`, `x-api-key=x`.
# Each group is bounded by a character class without overlap, so matching stays linear on any input.
_HEADER_VALUE = re.compile(
    r"""(?i)((?:proxy-)?authorization|x-api-key|api[-_]key)(["']?\s{0,8}[:=]\s{0,8}["']?)"""
    r"""((?:bearer|basic|token)\s{1,8})?([^\s"',;}\]]+)"""
)
# A bearer token or an OpenAI-style key anywhere in free text.
_BEARER = re.compile(r"(?i)\b(bearer\s{1,8})([A-Za-z0-9._~+/=-]{4,})")
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")
# User-info in any URL inside free text: scheme://user:secret@host.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,20}://)[^\s/@]{1,256}@")


def redact_url(url: str) -> str:
    """`url` without user-info (`https://user:secret@host/v1` -> `https://***@host/v1`), safe to log or record."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=f"{REDACTED}@" + parts.netloc.rsplit("@", 1)[1]))


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with credentials replaced by `***`.

    Removes the values of `Authorization`, `Proxy-Authorization`, `api-key` and `x-api-key` headers (as header lines,
    JSON or dict pairs), bearer tokens, `sk-...` keys, the user-info of URLs, and every exact occurrence of the given
    `secrets` (e.g. the API key in use).

    Args:
        text: A message about to be logged or stored.
        secrets: Known secret values; None and values under 4 characters are ignored.

    Returns:
        The redacted text (the same string when nothing was found).
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _HEADER_VALUE.sub(lambda m: f"{m[1]}{m[2]}{m[3] or ''}{REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m[1]}{REDACTED}", text)
    text = _KEY_LIKE.sub(REDACTED, text)
    return _URL_USERINFO.sub(lambda m: f"{m[1]}{REDACTED}@", text)
