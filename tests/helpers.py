"""Test stand-ins built on the real contracts: `ScriptedBackend`, a tiny deterministic backend for fast runner tests.

`ScriptedBackend` is a test double: its output is a pure function of each request's seed (a MELD-style dialogue in
the line format, a refusal, or one fixed dialogue that repeats), and its `stream` finishes requests out of order
(each takes a number of ticks drawn from its seed), so that the runner's plan-order rule is exercised. It never
loads a model. `run_scripted` runs the real runner with it (settings `SCRIPTED_RUN`). Run as a script, it
generates one run with the real runner (used by the SIGKILL test):

    python tests/helpers.py OUTPUT NUM_DIALOGUES [DELAY_SECONDS]
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from generation.backends import (  # noqa: E402
    Backend,
    BackendError,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
)
from generation.backends.base import RequestSource  # noqa: E402
from generation.config import GenerationConfig  # noqa: E402
from generation.runner import RunSummary, run_generation  # noqa: E402

__all__ = [
    "REPEATED_DIALOGUE",
    "SCRIPTED_RUN",
    "SCRIPTED_SPEAKERS",
    "TINY_SCHEMA",
    "ScriptedBackend",
    "run_scripted",
    "scripted_text",
]

SCRIPTED_SPEAKERS = ("Ross", "Rachel", "Monica", "Joey")
_WORDS = ("coffee", "really", "tonight", "never", "the couch", "my sandwich", "we were", "on a break", "okay", "fine")
REPEATED_DIALOGUE = "Ross: Hi there. (1)\nRachel: Oh, hello! (5)"
#: A JSON schema whose documents are a handful of tokens: a request with it finishes long before max_new_tokens.
TINY_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer", "enum": [3, 7]}},
    "required": ["answer"],
    "additionalProperties": False,
}


def scripted_text(seed: int, *, refuse: float = 0.25, repeat: float = 0.1) -> str:
    """The output for one seed: a refusal (share `refuse`), `REPEATED_DIALOGUE` (share `repeat`), else a fresh
    dialogue of 2 to 4 turns in the line format with legend numbers 1 to 7 (MELD's labels)."""
    rng = random.Random(seed)
    draw = rng.random()
    if draw < refuse:
        return "I am sorry, I cannot write that conversation."
    if draw < refuse + repeat:
        return REPEATED_DIALOGUE
    lines = []
    for turn in range(rng.randint(2, 4)):
        speaker = SCRIPTED_SPEAKERS[turn % 2] if turn < 2 else rng.choice(SCRIPTED_SPEAKERS)
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 6)))
        lines.append(f"{speaker}: {words.capitalize()} {rng.randint(0, 10**6)}. ({rng.randint(1, 7)})")
    return "\n".join(lines)


class ScriptedBackend(Backend):
    """A deterministic test backend (see the module docstring).

    Args:
        delay: Seconds of real time per finished request (to give a test time to kill the process).
        outage_after: Raise `BackendError` after this many finished requests (None: never).
        in_flight: Requests kept in flight by `stream`.
        refuse: Share of seeds answered with a refusal.
        repeat: Share of seeds answered with the same fixed dialogue.
    """

    name = "scripted"

    def __init__(
        self,
        *,
        delay: float = 0.0,
        outage_after: int | None = None,
        in_flight: int = 4,
        refuse: float = 0.25,
        repeat: float = 0.1,
    ) -> None:
        self.delay = delay
        self.outage_after = outage_after
        self.max_in_flight = in_flight
        self.refuse, self.repeat = refuse, repeat
        self.finished = 0
        self.loaded = False

    @property
    def model_name(self) -> str:
        return "scripted-test-backend"

    def load(self) -> None:
        self.loaded = True

    def result(self, request: GenerationRequest) -> GenerationResult:
        text = scripted_text(request.seed, refuse=self.refuse, repeat=self.repeat)
        return GenerationResult(text=text, prompt_tokens=10, completion_tokens=len(text.split()))

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[GenerationResult]:
        return [self.result(request) for request in requests]

    def stream(
        self, source: RequestSource, sampling: SamplingParams
    ) -> Iterator[tuple[GenerationRequest, GenerationResult]]:
        """Keeps `max_in_flight` requests; each finishes after a number of ticks drawn from its seed."""
        in_flight: list[tuple[int, str, GenerationRequest]] = []
        while True:
            while len(in_flight) < self.max_in_flight:
                request = source()
                if request is None:
                    break
                in_flight.append((random.Random(request.seed + 1).randint(1, 5), request.key, request))
            if not in_flight:
                return
            in_flight.sort(key=lambda entry: (entry[0], entry[1]))
            ticks, _, request = in_flight.pop(0)
            in_flight = [(left - ticks, key, waiting) for left, key, waiting in in_flight]
            if self.outage_after is not None and self.finished >= self.outage_after:
                raise BackendError("the scripted server went away")
            if self.delay:
                time.sleep(self.delay)
            self.finished += 1
            yield request, self.result(request)


#: The settings of a run that `ScriptedBackend` answers: no grammar (it has none) and no progress bar.
SCRIPTED_RUN: dict[str, Any] = {
    "benchmark": "meld",
    "num_dialogues": 20,
    "seed": 5,
    "progress": False,
    "constrained": False,
}


def run_scripted(output: str | Path, backend: Backend | None = None, **overrides: Any) -> tuple[RunSummary, list[str]]:
    """Runs the real runner into `output` with `backend` (default: `ScriptedBackend()`) and the settings
    `SCRIPTED_RUN` with `overrides`; returns the run's summary and the messages it logged."""
    messages: list[str] = []
    config = GenerationConfig(**{**SCRIPTED_RUN, **overrides, "output": str(output)})
    summary = run_generation(config, backend=backend or ScriptedBackend(), log=messages.append)
    return summary, messages


def _main(argv: list[str]) -> int:
    output, num = argv[0], int(argv[1])
    delay = float(argv[2]) if len(argv) > 2 else 0.0
    summary, _ = run_scripted(output, ScriptedBackend(delay=delay), num_dialogues=num, max_attempts=3)
    print(f"{summary.status} {summary.accepted} {summary.rejected}")
    return 0 if summary.status == "complete" else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
