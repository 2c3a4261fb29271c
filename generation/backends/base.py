"""The LLM backend contract: a batch of chat requests plus sampling parameters in, texts out.

A backend knows nothing about benchmarks, prompts or parsing (that is the task's job); it only turns chat messages
into text. Failures of single requests are reported per result (`GenerationResult.error`) so that one bad request
never kills a batch; a backend raises `BackendError` only when it cannot serve anything at all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from erc_synth_datasets.errors import ErcSynthError

__all__ = [
    "LOOP_PERIODS",
    "Backend",
    "BackendError",
    "GenerationRequest",
    "GenerationResult",
    "LoopDetector",
    "RequestSource",
    "SamplingParams",
]

#: The longest pattern, in tokens, that `LoopDetector` looks for repeats of.
LOOP_PERIODS = 16


class BackendError(ErcSynthError, RuntimeError):
    """The backend cannot serve requests (model missing, server unreachable after retries, ...)."""


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings shared by every request of a batch. None leaves a setting at the backend's default."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    typical_p: float | None = None
    repetition_penalty: float | None = None
    max_new_tokens: int = 512
    #: Stop a request once its last `max_loop_tokens` tokens repeat one pattern (`LoopDetector`); 0 never stops.
    max_loop_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GenerationRequest:
    """One chat completion to produce.

    Args:
        messages: Chat messages, `[{"role": "user", "content": ...}, ...]`.
        seed: Seed for this request's sampling, derived by the run from (run seed, dialogue index, attempt).
        json_schema: When set, the output must be a JSON document matching this schema (constrained decoding on
            local backends, `response_format` on servers that support it).
    """

    messages: list[dict[str, str]]
    seed: int
    json_schema: dict[str, Any] | None = None
    #: The caller's name for this request (the runner uses its plan index and attempt); backends pass it through.
    key: str = ""


@dataclass
class GenerationResult:
    """What a backend produced for one request; `error` is set (and `text` empty) when that request failed."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class LoopDetector:
    """Tells when a request's tokens have fallen into a loop: its last `length` tokens each equal the token
    `period` places before them, for one period of 1 to `LOOP_PERIODS` tokens (the same token, or the same few
    tokens, over and over). Such an output never closes its JSON document and runs to `max_new_tokens`, holding its
    slot alone long after the other requests have finished.

    Fed one token at a time (`push`), it keeps, for every period, how many tokens in a row have matched: constant
    work per token.
    """

    def __init__(self, length: int) -> None:
        self.length = int(length)
        self.recent: deque[int] = deque(maxlen=LOOP_PERIODS)
        self.matched = [0] * LOOP_PERIODS  # matched[p - 1]: tokens in a row equal to the one p places before
        self.period: int | None = None  # the period of the loop once one is found

    def push(self, token: int) -> bool:
        """Takes the next token; True once the tokens so far end in a loop of `length` tokens."""
        if self.length <= 0:
            return False
        recent, count = self.recent, len(self.recent)
        for period in range(1, LOOP_PERIODS + 1):
            repeats = count >= period and recent[count - period] == token
            self.matched[period - 1] = self.matched[period - 1] + 1 if repeats else 0
        recent.append(token)
        longest = max(self.matched)
        if longest >= self.length:
            self.period = self.matched.index(longest) + 1
            return True
        return False

    def describe(self, completion_tokens: int) -> str:
        """The reason recorded with a stopped request."""
        tokens = "1 token" if self.period == 1 else f"{self.period} tokens"
        return (
            f"decoding stopped after {completion_tokens} tokens: the last {self.length} repeated a pattern of "
            f"{tokens} (a loop that would run to max_new_tokens)"
        )


#: Called by `Backend.stream` whenever it has a free slot: the next request, or None when there is nothing to send
#: right now (the stream ends once nothing is in flight and the source still returns None).
RequestSource = Callable[[], "GenerationRequest | None"]


class Backend(ABC):
    """Base class of LLM backends. Construct cheaply; `load()` does the heavy work (weights, connections)."""

    #: Registry name (`transformers`, `openai`).
    name: str = ""

    @property
    @abstractmethod
    def model_name(self) -> str:
        """The model identifier recorded with every dialogue (Hub id, local path or served model name)."""

    @property
    def model_revision(self) -> str | None:
        """A revision or content hash of the weights when known, for dataset cards."""
        return None

    @property
    def supports_json_schema(self) -> bool:
        """Whether `GenerationRequest.json_schema` is enforced during decoding."""
        return False

    @abstractmethod
    def load(self) -> None:
        """Loads weights or opens connections. Called once before the first `generate`."""

    @abstractmethod
    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[GenerationResult]:
        """Produces one result per request, in order."""

    @property
    def max_in_flight(self) -> int:
        """How many requests `stream` keeps in flight at once (the batch size, the servers' slots); set by the
        runner from the backend's options."""
        return getattr(self, "_max_in_flight", 1)

    @max_in_flight.setter
    def max_in_flight(self, value: int) -> None:
        if int(value) < 1:
            raise ValueError(f"Expected max_in_flight >= 1, but got max_in_flight={value!r}.")
        self._max_in_flight = int(value)

    def stream(
        self, source: RequestSource, sampling: SamplingParams
    ) -> Iterator[tuple[GenerationRequest, GenerationResult]]:
        """Yields `(request, result)` as each request finishes, taking a new request from `source` for every free slot.

        The default keeps up to `max_in_flight` requests per `generate` call (static batches); backends that can
        refill a slot as soon as one request ends (continuous batching, servers) override it. Requests added to the
        source while the stream runs (retries) are picked up by the next free slot.
        """
        while True:
            batch: list[GenerationRequest] = []
            while len(batch) < max(1, self.max_in_flight):
                request = source()
                if request is None:
                    break
                batch.append(request)
            if not batch:
                return
            results = self.generate(batch, sampling)
            if len(results) != len(batch):
                raise BackendError(f"{type(self).__name__} returned {len(results)} results for {len(batch)} requests")
            yield from zip(batch, results, strict=True)

    def machine_choices(self, sampling: SamplingParams) -> dict[str, Any]:
        """What the backend chose from this machine for a stream with `sampling` (CPU threads, slots), each with
        its reason, for the run manifest; empty for a backend that chooses nothing. Called after `load`."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Releases resources (servers' connections, GPU memory)."""
