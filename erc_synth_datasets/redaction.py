"""Keeping secrets out of everything that is logged or stored: API keys, credential headers, URL user-info.

Every message that a run records (rejection records, manifests, log lines) passes through `redact_text`; every URL
that is recorded passes through `redact_url`. A secret is redacted in every form a server or a library may echo it
in (`secret_forms`): as given, percent-encoded and percent-decoded, JSON-escaped, and base64-encoded (standard and
URL-safe, with and without padding), and the user-info of a URL (`url_secrets`) also as the `user:password` pair and
its base64, the value of a `Basic` authorization header.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = ["REDACTED", "redact_text", "redact_url", "secret_forms", "split_url_credentials", "url_secrets"]

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
# The credentials of a Basic authorization anywhere in free text (`Basic dXNlcjpwYXNz`).
_BASIC = re.compile(r"(?i)\b(basic\s{1,8})([A-Za-z0-9+/_-]{4,}={0,2})")
_MIN_SECRET = 4
# User-info in any URL inside free text: scheme://user:secret@host (up to the last `@` before a space or quote, so
# that a password holding `/` or `@` unencoded goes too).
_URL_USERINFO = re.compile(r"""(?i)\b([a-z][a-z0-9+.-]{0,20}://)[^\s"'<>]{0,256}@""")


def redact_url(url: str) -> str:
    """`url` without user-info (`https://user:secret@host/v1` -> `https://***@host/v1`), safe to log or record.

    A URL whose credentials were not percent-encoded (`http://u:p/w@d@host`) is cut at its last `@`, so that no part
    of a password holding `/`, `?`, `#` or `@` is shown.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    parts = urlsplit(url)
    if "@" in parts.netloc and not any(c in rest.split("@")[-1].split("/")[0] for c in "?#"):
        if rest.count("@") == 1 or "@" not in parts.path + parts.query + parts.fragment:
            return urlunsplit(parts._replace(netloc=f"{REDACTED}@" + parts.netloc.rsplit("@", 1)[1]))
    return f"{scheme}://{REDACTED}@{rest.rsplit('@', 1)[1]}"


def split_url_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """`url` without its user-info, and the (user, password) it held, percent-decoded (None when it held none)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), (unquote(user), unquote(password))


def url_secrets(url: str | None) -> list[str]:
    """The secrets a URL's user-info holds: the password and the `user:password` pair."""
    if not url:
        return []
    _, credentials = split_url_credentials(url)
    if credentials is None:
        return []
    user, password = credentials
    return [value for value in (password, f"{user}:{password}") if value]


def _base64_forms(value: str) -> set[str]:
    raw = value.encode("utf-8")
    forms = set()
    for encoded in (base64.b64encode(raw).decode("ascii"), base64.urlsafe_b64encode(raw).decode("ascii")):
        forms.update({encoded, encoded.rstrip("=")})
    return forms


def secret_forms(secret: str) -> set[str]:
    """`secret` in every form it may be echoed in: as given, percent-encoded or decoded, JSON-escaped, base64."""
    forms = {secret, quote(secret, safe=""), quote(secret), unquote(secret), json.dumps(secret)[1:-1]}
    forms |= {json.dumps(secret, ensure_ascii=False)[1:-1]}
    for form in list(forms):
        forms |= _base64_forms(form)
    if ":" in secret:  # a Basic credentials pair: also the base64 of its percent-encoded user and password
        user, _, password = secret.partition(":")
        forms |= _base64_forms(f"{quote(user, safe='')}:{quote(password, safe='')}")
    return {form for form in forms if len(form) >= _MIN_SECRET}


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with credentials replaced by `***`.

    Removes the values of `Authorization`, `Proxy-Authorization`, `api-key` and `x-api-key` headers (as header lines,
    JSON or dict pairs), bearer tokens and Basic credentials, `sk-...` keys, the user-info of URLs, and every
    occurrence of the given `secrets` (e.g. the API key in use, `url_secrets` of the base URL) in any of their
    `secret_forms`.

    Args:
        text: A message about to be logged or stored.
        secrets: Known secret values; None and values under 4 characters are ignored.

    Returns:
        The redacted text (the same string when nothing was found).
    """
    forms: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET:
            forms |= secret_forms(secret)
    for form in sorted(forms, key=len, reverse=True):  # longest first: a form inside another goes with it
        text = text.replace(form, REDACTED)
    text = _HEADER_VALUE.sub(lambda m: f"{m[1]}{m[2]}{m[3] or ''}{REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m[1]}{REDACTED}", text)
    text = _BASIC.sub(lambda m: f"{m[1]}{REDACTED}", text)
    text = _KEY_LIKE.sub(REDACTED, text)
    return _URL_USERINFO.sub(lambda m: f"{m[1]}{REDACTED}@", text)
