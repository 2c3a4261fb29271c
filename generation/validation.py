"""Validation of parsed outputs: every failure becomes a reason code (stored in rejection records) and a message.

Checks, in order: something was parsed; every turn has a label inside the legend, an allowed speaker and a
non-empty utterance; the number of turns is within [min_turns, max_turns]; at least the benchmark's `min_speakers`
distinct speakers; the balanced target emotion is present; the dialogue is not a duplicate of one already accepted.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from erc_synth_datasets.benchmarks import Benchmark

from .parsing import ParseResult

__all__ = ["REASONS", "ValidDialogue", "Verdict", "dialogue_fingerprint", "validate_dialogue"]

#: Every reason code a rejection record can carry.
REASONS: dict[str, str] = {
    "backend_error": "the backend reported an error for this request",
    "invalid_json": "the output is not a complete JSON document with a list of turns",
    "no_turns": "no turn could be read from the output",
    "missing_label": "an utterance has no emotion number",
    "label_out_of_range": "an emotion number is outside the legend",
    "unknown_label": "an emotion is neither a legend number nor exactly one label word",
    "speaker_not_allowed": "a speaker is not allowed by the benchmark",
    "empty_utterance": "an utterance is empty",
    "too_few_turns": "fewer turns than min_turns",
    "too_many_turns": "more turns than max_turns",
    "too_few_speakers": "fewer distinct speakers than the benchmark's min_speakers",
    "target_missing": "the balanced target emotion does not occur",
    "duplicate": "the same dialogue was already accepted",
}


@dataclass
class ValidDialogue:
    """A dialogue that passed validation: parallel lists, emotions as label names."""

    speakers: list[str]
    utterances: list[str]
    emotions: list[str]
    fingerprint: str


@dataclass
class Verdict:
    """The outcome of validating one output: `dialogue` when valid, else `reason` (a `REASONS` code) and `message`."""

    dialogue: ValidDialogue | None = None
    reason: str | None = None
    message: str = ""
    details: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.dialogue is not None


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def dialogue_fingerprint(speakers: list[str], utterances: list[str]) -> str:
    """A content hash of a dialogue (case and whitespace ignored) used to detect duplicates."""
    text = "\x1e".join(f"{_normalise(s)}\x1f{_normalise(u)}" for s, u in zip(speakers, utterances, strict=True))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def validate_dialogue(
    parsed: ParseResult,
    benchmark: Benchmark,
    *,
    min_turns: int = 2,
    max_turns: int = 12,
    target_emotion: str | None = None,
    seen: set[str] | frozenset[str] = frozenset(),
) -> Verdict:
    """Checks one parsed output. Never raises on any parse result.

    Args:
        parsed: The parser's result.
        benchmark: Labels and speaker rules.
        min_turns: Fewest turns allowed (at least 2 in a run).
        max_turns: Most turns allowed.
        target_emotion: The balanced target label name, or None.
        seen: Fingerprints of dialogues already accepted.

    Returns:
        A `Verdict`: with `dialogue` set when every check passes, else the first failing reason.
    """
    if parsed.error is not None:
        return Verdict(reason=parsed.error if parsed.error in REASONS else "no_turns", message=parsed.message)
    if not parsed.turns:
        return Verdict(reason="no_turns", message="no turn could be read from the output")
    for number, turn in enumerate(parsed.turns, start=1):
        if turn.emotion is None or turn.problem is not None:
            reason = turn.problem if turn.problem in REASONS else "missing_label"
            return Verdict(reason=reason, message=f"turn {number}: {REASONS[reason]}")
        if turn.emotion not in benchmark.label2id:
            return Verdict(reason="unknown_label", message=f"turn {number}: {turn.emotion!r} is not a label")
        if not benchmark.is_allowed_speaker(turn.speaker):
            return Verdict(
                reason="speaker_not_allowed",
                message=f"turn {number}: speaker {turn.speaker!r:.60} is not one of {list(benchmark.speakers)}",
            )
        if not turn.utterance.strip():
            return Verdict(reason="empty_utterance", message=f"turn {number}: empty utterance")
    count = len(parsed.turns)
    if count < min_turns:
        return Verdict(reason="too_few_turns", message=f"{count} turns, fewer than min_turns={min_turns}")
    if count > max_turns:
        return Verdict(reason="too_many_turns", message=f"{count} turns, more than max_turns={max_turns}")
    speakers = [benchmark.canonical_speaker(turn.speaker) for turn in parsed.turns]
    distinct = len(set(speakers))
    if distinct < benchmark.min_speakers:
        return Verdict(
            reason="too_few_speakers",
            message=f"{distinct} distinct speakers, fewer than {benchmark.display_name}'s {benchmark.min_speakers}",
        )
    emotions = [turn.emotion for turn in parsed.turns]
    if target_emotion is not None and target_emotion not in emotions:
        return Verdict(reason="target_missing", message=f"no utterance labelled {target_emotion!r}")
    utterances = [turn.utterance.strip() for turn in parsed.turns]
    fingerprint = dialogue_fingerprint(speakers, utterances)
    if fingerprint in seen:
        return Verdict(reason="duplicate", message="an identical dialogue was already accepted")
    return Verdict(
        dialogue=ValidDialogue(speakers=speakers, utterances=utterances, emotions=emotions, fingerprint=fingerprint)
    )
