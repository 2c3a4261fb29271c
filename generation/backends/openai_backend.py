"""Chat completions from any OpenAI-compatible server: vLLM, llama.cpp's server, llama-cpp-python, Ollama, TGI,
text-generation-webui, SGLang, or the OpenAI API itself.

Requests are spread round-robin over one or more base URLs with a bounded number in flight; each request has a
timeout and is retried with exponential backoff and jitter on connection errors, timeouts, 5xx and 429 (honouring
`Retry-After`). A request that still fails is reported in `GenerationResult.error` (with `extra["error_kind"]`);
when no request of a batch got an answer at all (connection errors or timeouts on every attempt), `generate` raises
`BackendError` naming the URLs, so that a run stops and can be resumed instead of using up its attempts.

The API key comes from the `api_key` option or an environment variable (`OPENAI_API_KEY` by default). It is sent in
the `Authorization` header only: it never appears in logs, errors, `repr()` or `describe()`. Credentials in a base
URL (`http://user:password@host/v1`) are taken out of the URL and sent to that server, and to it only, as HTTP Basic
authentication (percent-decoded); since both would use the one `Authorization` header, a base URL with credentials
and an API key together are refused. Every message is redacted of the key and the URL credentials in all their
encoded forms (`erc_synth_datasets.redaction.secret_forms`), the base64 of a Basic header included.

Example:

```python
>>> from generation.backends import GenerationRequest, SamplingParams, create_backend
>>> backend = create_backend("openai", base_urls=["http://127.0.0.1:8000/v1"], max_in_flight=8)
>>> backend.load()
>>> [result] = backend.generate(
...     [GenerationRequest(messages=[{"role": "user", "content": "Say hi."}], seed=0)],
...     SamplingParams(top_k=100, max_new_tokens=32),
... )
>>> backend.close()
```
"""

from __future__ import annotations

import base64
import email.utils
import itertools
import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.redaction import redact_text, redact_url, split_url_credentials, url_secrets

from ..base_url import DEFAULT_BASE_URL, normalise_base_url
from .base import Backend, BackendError, GenerationRequest, GenerationResult, RequestSource, SamplingParams

__all__ = ["DEFAULT_API_KEY_ENV", "DEFAULT_BASE_URL", "OpenAIBackend", "redact_url"]

logger = logging.getLogger(__name__)

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
JSON_SCHEMA_MODES = ("auto", "on", "off")
JSON_SCHEMA_FORMATS = ("auto", "json_schema", "json_object")
# Outcomes that say nothing about the prompt: no server answered, or every request is refused the same way.
UNANSWERED_KINDS = frozenset({"connection", "timeout"})
REFUSED_KINDS = frozenset({"http_401", "http_403", "http_404"})
# HTTP statuses worth another try: the server is overloaded, restarting or asks us to slow down.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# The schema and prompt of the capability probe: an unconstrained chat model answers this prompt in prose, so a JSON
# object with exactly this shape means the server enforced the schema.
_PROBE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
    "additionalProperties": False,
}
_PROBE_MESSAGES = [{"role": "user", "content": "Say hello and tell me about your day."}]


def _basic_header(user: str, password: str) -> str:
    """The `Authorization` value of HTTP Basic authentication for a URL's (percent-decoded) user and password."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


@dataclass
class _Attempt:
    """The outcome of one HTTP attempt, before the retry decision."""

    result: GenerationResult | None = None  # set on success or on a final (non-retryable) error
    kind: str = ""  # "connection", "timeout", "http_<status>", "bad_response"
    message: str = ""
    retry_after: float | None = None


class OpenAIBackend(Backend):
    """Chat completions against one or more OpenAI-compatible servers.

    Args:
        model: The served model name sent as `model`. None takes the first model the first server lists under
            `GET /models` at `load()`.
        base_urls: Base URLs ending in the API root, e.g. `http://127.0.0.1:8000/v1` (a bare `http://host:port`
            gets `/v1`). Several URLs (or one comma-separated string) spread the requests round-robin; retries move
            on to the next URL.
        api_key: The bearer token. None reads the environment variable named by `api_key_env`; servers that need
            no key accept a missing one.
        max_in_flight: The most requests waiting on the servers at once, over all URLs.
        timeout: Seconds to wait for one response (the whole completion: requests are not streamed).
        max_retries: Further attempts after the first on connection errors, timeouts, 408, 429 and 5xx.
        api_key_env: The environment variable read when `api_key` is None.
        json_schema: `"auto"` probes once, when first needed (`supports_json_schema` is read, or a request carries a
            schema), whether the server enforces a JSON schema through `response_format`; `"on"` trusts that it
            does; `"off"` never sends a schema (the runner then parses free text).
        json_schema_format: The `response_format` shape: `"json_schema"` (OpenAI's, accepted by vLLM, llama.cpp's
            server, Ollama, SGLang), `"json_object"` (`{"type": "json_object", "schema": ...}`, llama-cpp-python's
            server), or `"auto"` (with `json_schema="auto"`, the first the probe finds enforced; with `"on"`,
            `"json_schema"`).
        backoff_base: Seconds before the first retry; doubles with each retry, with jitter.
        backoff_max: Upper bound of one backoff wait, and of a server's `Retry-After`.
        extra_body: Further fields merged into every request body (server-specific options, e.g. `{"min_p": 0.05}`).
        repetition_penalty_fields: The body fields that carry `SamplingParams.repetition_penalty`. The default sends
            both names in use (`repetition_penalty`: vLLM, TGI, text-generation-webui; `repeat_penalty`: llama.cpp,
            llama-cpp-python, Ollama); servers ignore the one they do not know.
        seed_bits: Seeds are sent modulo `2**seed_bits` (None: as they are). Run seeds are 63-bit; llama.cpp keeps
            32 bits and some servers reject what does not fit a signed 32-bit integer, so by default every server
            gets the same, fitting, seed.

    Raises:
        ValueError: On an invalid option (the message names the option and the accepted values).
    """

    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        base_urls: Sequence[str] | str | None = None,
        api_key: str | None = None,
        max_in_flight: int = 4,
        timeout: float = 300.0,
        max_retries: int = 5,
        *,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        json_schema: str = "auto",
        json_schema_format: str = "auto",
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
        extra_body: dict[str, Any] | None = None,
        repetition_penalty_fields: Sequence[str] = ("repetition_penalty", "repeat_penalty"),
        seed_bits: int | None = 31,
    ) -> None:
        if base_urls is None:
            base_urls = [DEFAULT_BASE_URL]
        elif isinstance(base_urls, str):
            base_urls = [u for u in base_urls.split(",") if u.strip()]
        if not base_urls:
            raise ValueError(f"Expected at least one base URL, but got base_urls={list(base_urls)!r}.")
        normalised = [normalise_base_url(u) for u in base_urls]
        self._secrets = [secret for url in normalised for secret in url_secrets(url)]
        split = [split_url_credentials(url) for url in normalised]
        self.base_urls = [url for url, _ in split]
        self._shown_urls = [redact_url(url) for url in normalised]  # `***@` says where credentials are sent
        self._url_auth = {url: _basic_header(*credentials) for url, credentials in split if credentials is not None}
        if int(max_in_flight) < 1:
            raise ValueError(f"Expected max_in_flight >= 1, but got max_in_flight={max_in_flight!r}.")
        if not timeout or float(timeout) <= 0:
            raise ValueError(f"Expected a timeout > 0 seconds, but got timeout={timeout!r}.")
        if int(max_retries) < 0:
            raise ValueError(f"Expected max_retries >= 0, but got max_retries={max_retries!r}.")
        if json_schema not in JSON_SCHEMA_MODES:
            raise ValueError(f"Expected json_schema in {JSON_SCHEMA_MODES}, but got json_schema={json_schema!r}.")
        if json_schema_format not in JSON_SCHEMA_FORMATS:
            raise ValueError(
                f"Expected json_schema_format in {JSON_SCHEMA_FORMATS}, "
                f"but got json_schema_format={json_schema_format!r}."
            )
        if backoff_base < 0 or backoff_max < 0:
            raise ValueError(
                f"Expected backoff_base >= 0 and backoff_max >= 0, but got {backoff_base!r} and {backoff_max!r}."
            )
        self._model = model
        self.max_in_flight = int(max_in_flight)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.api_key_env = api_key_env
        self._api_key = api_key if api_key is not None else (os.environ.get(api_key_env) or None)
        with_credentials = [url for url, (_, credentials) in zip(normalised, split, strict=True) if credentials]
        if self._api_key and with_credentials:
            raise ConfigError(
                f"The base URL {redact_url(with_credentials[0])!r} carries "
                "credentials (sent as HTTP Basic authentication) and an API key is set (sent as a Bearer token, from "
                f"{'the api_key option' if api_key is not None else 'the environment variable ' + api_key_env}): "
                "both would go in the one Authorization header. Take the credentials out of --base-url, or name an "
                "unset variable with --api-key-env."
            )
        self.json_schema = json_schema
        self.json_schema_format = json_schema_format
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.extra_body = dict(extra_body or {})
        self.repetition_penalty_fields = tuple(repetition_penalty_fields)
        if seed_bits is not None and not 1 <= int(seed_bits) <= 64:
            raise ValueError(f"Expected seed_bits between 1 and 64 or None, but got seed_bits={seed_bits!r}.")
        self.seed_bits = None if seed_bits is None else int(seed_bits)

        self._client: Any = None  # httpx2.Client, created at load()
        self._executor: ThreadPoolExecutor | None = None
        self._url_cycle = itertools.cycle(range(len(self.base_urls)))
        self._lock = threading.Lock()
        self._not_before = [0.0] * len(self.base_urls)  # per URL: no request before this monotonic time (429)
        # The response_format shape in use, None when not enforced; known now unless it takes the probe ("auto").
        self._schema_format: str | None = None
        if json_schema == "on":
            self._schema_format = "json_schema" if json_schema_format == "auto" else json_schema_format
        self._rng = random.Random()
        self._served_models: list[str] = []
        self._loaded = False
        self._probed = False  # whether the JSON-schema probe ran ("auto")

    # ----------------------------------------------------------------------------------------------------- contract

    @property
    def model_name(self) -> str:
        if self._model is None:
            raise BackendError("The served model name is not known before load(): call load() or pass model=...")
        return self._model

    @property
    def supports_json_schema(self) -> bool:
        """Whether JSON schemas are enforced. With `json_schema="auto"` the first call runs the probe (loading the
        backend first when needed, as a caller may decide its output format before `load()`); runs that never ask
        and send no schema never pay for the probe.

        Raises:
            BackendError: When the probe is needed and no server answers.
        """
        self._ensure_probed()
        return self._schema_format is not None

    @property
    def json_schema_response_format(self) -> str | None:
        """The `response_format` shape in use (`"json_schema"` or `"json_object"`), None when schemas are off."""
        self._ensure_probed()
        return self._schema_format

    def _ensure_probed(self) -> None:
        if self.json_schema != "auto" or self._probed:
            return
        self.load()
        self._schema_format = self._probe_schema_format()
        self._probed = True

    def describe(self) -> dict[str, Any]:
        """The settings of this backend for manifests and cards: URLs redacted, the API key only as set or not."""
        return {
            "backend": self.name,
            "model": self._model,
            "base_urls": list(self._shown_urls),
            "api_key_set": self._api_key is not None,
            "max_in_flight": self.max_in_flight,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "json_schema": self.json_schema,
            "json_schema_response_format": self._schema_format,
            "extra_body": dict(self.extra_body),
        }

    def __repr__(self) -> str:
        urls = ", ".join(self._shown_urls)
        key = "set" if self._api_key is not None else "unset"
        return f"OpenAIBackend(model={self._model!r}, base_urls=[{urls}], api_key=<{key}>)"

    def load(self) -> None:
        """Opens the connection pool, checks which servers answer and learns the model name. Calling it again on a
        loaded backend does nothing.

        Raises:
            BackendError: When no server answers `GET /models`, or a server refuses the API key.
        """
        import httpx2

        if self._loaded:
            return
        if self._client is None:
            self._client = httpx2.Client(
                timeout=httpx2.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                limits=httpx2.Limits(
                    max_connections=self.max_in_flight + 1, max_keepalive_connections=self.max_in_flight + 1
                ),
                headers=self._headers(),
                trust_env=False,
            )
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.max_in_flight, thread_name_prefix="openai-backend")

        reachable: list[str] = []
        failures: list[str] = []
        for url in self.base_urls:
            try:
                response = self._client.get(
                    f"{url}/models", timeout=min(self.timeout, 30.0), headers=self._url_headers(url)
                )
            except httpx2.HTTPError as err:
                failures.append(f"{redact_url(url)}: {type(err).__name__}: {self._redact(str(err))}")
                continue
            if response.status_code in (401, 403):
                raise BackendError(
                    f"The server at {redact_url(url)} refused the API key (HTTP {response.status_code}). Put the "
                    f"server's key in the environment variable {self.api_key_env} (--api-key-env names another) "
                    f"({'a key was sent' if self._api_key else 'no key was sent'})."
                )
            if response.status_code >= 400:
                # Some servers serve chat completions but no model list; count them as reachable.
                logger.warning("GET %s/models answered HTTP %d.", redact_url(url), response.status_code)
                reachable.append(url)
                continue
            reachable.append(url)
            served = self._model_ids(response)
            self._served_models = self._served_models or served
            if self._model is None and served:
                self._model = served[0]
        if not reachable:
            raise BackendError(
                "No OpenAI-compatible server answered at "
                + "; ".join(failures)
                + ". Start the server(s) or fix --base-url."
            )
        if failures:
            logger.warning("Some servers did not answer and are retried later: %s", "; ".join(failures))
        if self._model is None:
            raise BackendError(
                f"Could not learn the served model name from GET /models at {redact_url(reachable[0])}: "
                "pass --model (the name the server serves)."
            )
        if self._served_models and self._model not in self._served_models:
            # Some servers (llama-cpp-python with one model) answer whatever the name; others answer 404.
            logger.warning(
                "The servers list the models %s, not %r; requests may be refused. Pass --model with a listed name.",
                self._served_models,
                self._model,
            )
        self._loaded = True

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[GenerationResult]:
        """Sends every request (at most `max_in_flight` at once) and returns one result per request, in order.

        Raises:
            BackendError: When no request of the batch got an answer (connection errors or timeouts on every
                attempt: the servers are down or hung), or every request was refused with the same 401, 403 or
                404 (a wrong key, model name or URL).
        """
        if self._client is None or self._executor is None:
            raise BackendError("OpenAIBackend.generate() was called before load().")
        if not requests:
            return []
        if any(r.json_schema is not None for r in requests):
            self._ensure_probed()
        results = list(self._executor.map(lambda r: self._complete(r, sampling), requests))
        self._raise_when_nothing_answered(results)
        return results

    def stream(
        self, source: RequestSource, sampling: SamplingParams
    ) -> Iterator[tuple[GenerationRequest, GenerationResult]]:
        """Keeps `max_in_flight` requests waiting on the servers for the whole run (spread round-robin over the
        URLs, each with its retries and back-off), taking the next request from `source` as soon as one finishes.

        Results that say nothing about their prompt (no server answered, or a 401/403/404 refusal) are held back
        until some request gets an answer; when a whole window of requests (or everything left at the end) fails that
        way, the servers are down or refuse us, and `BackendError` is raised without using up those prompts'
        attempts.

        Raises:
            BackendError: As `generate`, for the held-back results.
        """
        if self._client is None or self._executor is None:
            raise BackendError("OpenAIBackend.stream() was called before load().")
        pending: dict[Future[GenerationResult], GenerationRequest] = {}
        held: list[tuple[GenerationRequest, GenerationResult]] = []
        try:
            while True:
                self._fill(pending, source, sampling)
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    request, result = pending.pop(future), future.result()
                    if result.error is not None and result.extra.get("error_kind") in UNANSWERED_KINDS | REFUSED_KINDS:
                        held.append((request, result))
                        continue
                    yield from held
                    held.clear()
                    yield request, result
                if len(held) >= self.max_in_flight:
                    self._raise_when_nothing_answered([result for _, result in held])
            if held:
                self._raise_when_nothing_answered([result for _, result in held])
                yield from held
        finally:
            for future in pending:
                future.cancel()

    def _fill(
        self,
        pending: dict[Future[GenerationResult], GenerationRequest],
        source: RequestSource,
        sampling: SamplingParams,
    ) -> None:
        """Submits requests from `source` until `max_in_flight` are waiting or the source has none right now."""
        assert self._executor is not None
        while len(pending) < self.max_in_flight:
            request = source()
            if request is None:
                return
            if request.json_schema is not None:
                self._ensure_probed()
            pending[self._executor.submit(self._complete, request, sampling)] = request

    def _raise_when_nothing_answered(self, results: list[GenerationResult]) -> None:
        """Raises `BackendError` when every result is the same refusal, or none got an answer at all."""
        kinds = {r.extra.get("error_kind") if r.error is not None else None for r in results}
        if len(kinds) == 1 and kinds & REFUSED_KINDS:
            # The same refusal for every request: a wrong key, model name or URL path, not a bad prompt.
            served = f" The servers list the models {self._served_models}." if self._served_models else ""
            raise BackendError(
                f"Every request was refused: {self._redact(results[-1].error)}.{served} Check --model, --base-url "
                f"and the API key (environment variable {self.api_key_env}, named by --api-key-env)."
            )
        if kinds <= UNANSWERED_KINDS:
            # Nothing got an answer: the servers are down or hung, and every further request would fail the same
            # way. Stopping here keeps the run's prompts for a resume instead of using up their attempts.
            urls = ", ".join(redact_url(u) for u in self.base_urls)
            hint = (
                "Start or restart the server(s), then resume the run."
                if "connection" in kinds
                else f"Check the server(s), or raise the timeout ({self.timeout:g}s) if the model is slow."
            )
            raise BackendError(
                f"No server answered at {urls} after {self.max_retries + 1} attempts per request "
                f"(last error: {self._redact(results[-1].error)}). {hint}"
            )

    def _redact(self, text: str | None) -> str:
        """`text` without the API key or any credential header value, safe to log or store."""
        return redact_text(text or "", [self._api_key, *self._secrets])

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._client is not None:
            self._client.close()
            self._client = None
        self._loaded = False

    # ------------------------------------------------------------------------------------------------- requests

    def _url_headers(self, url: str) -> dict[str, str]:
        """The headers of a request to `url` beyond the client's: Basic authentication from its credentials."""
        auth = self._url_auth.get(url)
        return {"Authorization": auth} if auth else {}

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    @staticmethod
    def _model_ids(response: Any) -> list[str]:
        try:
            data = response.json().get("data") or []
        except (ValueError, AttributeError):
            return []
        return [str(entry["id"]) for entry in data if isinstance(entry, dict) and entry.get("id")]

    def build_body(self, request: GenerationRequest, sampling: SamplingParams) -> dict[str, Any]:
        """The JSON body of the chat completion for `request`: OpenAI fields, then the extra sampling fields."""
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": request.messages,
            "max_tokens": sampling.max_new_tokens,
            "seed": request.seed if self.seed_bits is None else request.seed % (1 << self.seed_bits),
            "stream": False,
        }
        if sampling.temperature is not None:
            body["temperature"] = sampling.temperature
        if sampling.top_p is not None:
            body["top_p"] = sampling.top_p
        # Outside the OpenAI schema: the extra fields that vLLM, TGI, llama.cpp, Ollama and text-generation-webui read.
        if sampling.top_k is not None:
            body["top_k"] = sampling.top_k
        if sampling.typical_p is not None:
            body["typical_p"] = sampling.typical_p
        if sampling.repetition_penalty is not None:
            for name in self.repetition_penalty_fields:
                body[name] = sampling.repetition_penalty
        if request.json_schema is not None and self._schema_format is not None:
            body["response_format"] = self._response_format(request.json_schema, self._schema_format)
        body.update(self.extra_body)
        return body

    @staticmethod
    def _response_format(schema: dict[str, Any], shape: str) -> dict[str, Any]:
        if shape == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}

    def _next_url(self, avoid: int | None = None) -> int:
        """The next URL in the rotation; waits first when every URL asked us (429) to hold off.

        Args:
            avoid: The URL that just failed this request; skipped when another one is available, so that a retry
                always moves on to another server (the shared rotation alone may hand it the same one again).
        """
        with self._lock:
            now = time.monotonic()
            for _ in range(2 * len(self.base_urls)):
                index = next(self._url_cycle)
                if index == avoid and len(self.base_urls) > 1:
                    continue
                if self._not_before[index] <= now:
                    return index
            index = min(range(len(self.base_urls)), key=lambda i: self._not_before[i])
            wait = self._not_before[index] - now
        time.sleep(max(0.0, wait))
        return index

    def _backoff(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        ceiling = min(self.backoff_max, self.backoff_base * (2**retry))
        # "Equal jitter": at least half the exponential delay, so retries never bunch up at zero.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _complete(self, request: GenerationRequest, sampling: SamplingParams) -> GenerationResult:
        body = self.build_body(request, sampling)
        started = time.monotonic()
        history: list[str] = []
        attempt = _Attempt()
        url = self.base_urls[0]
        failed: int | None = None
        for retry in range(self.max_retries + 1):
            index = self._next_url(avoid=failed)
            url = self.base_urls[index]
            attempt = self._post(url, body)
            if attempt.result is not None:
                attempt.result.extra.update(
                    base_url=redact_url(url),
                    attempts=retry + 1,
                    latency_s=round(time.monotonic() - started, 3),
                    response_format=body.get("response_format", {}).get("type"),
                )
                if history:
                    attempt.result.extra["retried_after"] = history
                return attempt.result
            history.append(f"{attempt.kind}@{redact_url(url)}")
            failed = index
            if attempt.kind == "http_429" and attempt.retry_after is not None:
                with self._lock:
                    hold = time.monotonic() + min(attempt.retry_after, self.backoff_max)
                    self._not_before[index] = max(self._not_before[index], hold)
            if retry < self.max_retries:
                delay = self._backoff(retry, attempt.retry_after)
                logger.warning(
                    "Request (seed %d) to %s failed (%s); retry %d/%d in %.2fs.",
                    request.seed,
                    redact_url(url),
                    attempt.message,
                    retry + 1,
                    self.max_retries,
                    delay,
                )
                time.sleep(delay)
        message = f"{attempt.message} (after {self.max_retries + 1} attempts; last server {redact_url(url)})"
        return GenerationResult(
            text="",
            error=message,
            extra={"error_kind": attempt.kind, "attempts": self.max_retries + 1, "retried_after": history},
        )

    def _post(self, url: str, body: dict[str, Any]) -> _Attempt:
        """One POST to `{url}/chat/completions`: a finished result, or what went wrong and whether to retry."""
        import httpx2

        try:
            response = self._client.post(f"{url}/chat/completions", json=body, headers=self._url_headers(url))
        except httpx2.TimeoutException as err:
            return _Attempt(kind="timeout", message=f"timed out after {self.timeout:g}s ({type(err).__name__})")
        except httpx2.TransportError as err:
            return _Attempt(kind="connection", message=self._redact(f"connection error: {type(err).__name__}: {err}"))
        status = response.status_code
        if status != 200:
            snippet = self._redact(response.text[:300].strip())
            message = f"HTTP {status} from {redact_url(url)}: {snippet}"
            if status in RETRY_STATUSES:
                return _Attempt(
                    kind=f"http_{status}",
                    message=message,
                    retry_after=_parse_retry_after(response.headers.get("retry-after")),
                )
            # 4xx: the request itself is wrong; another try would fail the same way.
            return _Attempt(
                result=GenerationResult(text="", error=message, extra={"error_kind": f"http_{status}"}),
            )
        try:
            payload = response.json()
            choice = payload["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
            return _Attempt(
                result=GenerationResult(
                    text="",
                    error=f"Malformed chat completion from {redact_url(url)} ({type(err).__name__}: {err}): "
                    f"{self._redact(response.text[:300])!r}",
                    extra={"error_kind": "bad_response"},
                )
            )
        usage = payload.get("usage") or {}
        return _Attempt(
            result=GenerationResult(
                text=text,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                extra={"finish_reason": choice.get("finish_reason")},
            )
        )

    # ----------------------------------------------------------------------------------------------- JSON schema

    def _probe_schema_format(self) -> str | None:
        shapes = ("json_schema", "json_object") if self.json_schema_format == "auto" else (self.json_schema_format,)
        for shape in shapes:
            if self._probe(shape):
                logger.info("The server enforces JSON schemas with response_format type %r.", shape)
                return shape
        logger.info("The server does not enforce JSON schemas; outputs are parsed as free text.")
        return None

    def _probe(self, shape: str) -> bool:
        """Whether a schema sent in `response_format` of this shape constrains the output."""
        body = {
            "model": self.model_name,
            "messages": _PROBE_MESSAGES,
            "max_tokens": 24,
            "temperature": 0.0,
            "seed": 0,
            "response_format": self._response_format(_PROBE_SCHEMA, shape),
        }
        for _ in range(len(self.base_urls)):
            url = self.base_urls[self._next_url()]
            attempt = self._post(url, body)
            if attempt.result is None:  # unreachable or overloaded: try the next server
                continue
            if attempt.result.error is not None:  # the server rejected this shape
                return False
            try:
                value = json.loads(attempt.result.text)
            except ValueError:
                return False
            return isinstance(value, dict) and set(value) == {"answer"} and isinstance(value["answer"], int)
        return False
