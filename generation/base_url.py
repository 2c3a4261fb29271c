"""The base URL of an OpenAI-compatible server: checked and normalised in one place, for the generation options
(refused up front) and the `openai` backend (the URL it sends to)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.redaction import redact_url

__all__ = ["DEFAULT_BASE_URL", "normalise_base_url"]

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"


def normalise_base_url(url: str) -> str:
    """Strips trailing slashes and appends `/v1` to a bare `scheme://host:port`, the path every server serves."""
    url = url.strip()
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:  # a port that is not a number
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok or any(c.isspace() for c in url):
        raise ConfigError(
            f"Expected an http(s) base URL such as {DEFAULT_BASE_URL!r}, but got base_url={redact_url(url)!r}. "
            "Fix --base-url (or `base_urls` in the generation config)."
        )
    path = parts.path.rstrip("/")
    if not path:
        path = "/v1"
    return urlunsplit(parts._replace(path=path))
