"""Validation of parsed outputs: every failure becomes a reason code (stored in rejection records) and a message.

Checks, in order: something was parsed; every turn has one label inside the legend, a speaker that is a plausible
name and allowed by the benchmark, and an utterance that holds no control character, has a visible character and a
letter or digit (not only markup such as `**` or `---`, punctuation or symbols) and is at most `max_utterance_chars`
long; the number of turns is within [min_turns, max_turns]; at least the benchmark's
`min_speakers` distinct speakers; the balanced target emotion is present; the dialogue is not a duplicate of one
already accepted. The validator accepts only what a careful reader would accept as a clean dialogue.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

from erc_synth_datasets.benchmarks import Benchmark

from .parsing import ParseResult, has_lone_surrogate

__all__ = ["REASONS", "ValidDialogue", "Verdict", "dialogue_fingerprint", "validate_dialogue"]

#: Every reason code a rejection record can carry.
REASONS: dict[str, str] = {
    "backend_error": "the backend reported an error for this request",
    "repetition_loop": "decoding was stopped because the output had fallen into a loop (max_loop_tokens)",
    "invalid_unicode": "the output holds a lone surrogate (text that is not valid Unicode)",
    "invalid_json": "the output is not a complete JSON document with a list of turns",
    "no_turns": "no turn could be read from the output",
    "output_too_long": "the output has more turns (1,000) or lines with a colon (2,000) than any dialogue",
    "missing_label": "an utterance has no emotion number (numbers inside the text are not read as one)",
    "label_out_of_range": "an emotion number is outside the legend",
    "unknown_label": "an emotion is neither a legend number nor exactly one label word",
    "conflicting_labels": "one utterance carries two different labels (after the speaker and at the end, two at the "
    "end, or a JSON number and label word that disagree)",
    "non_text_value": "a JSON speaker or utterance is not a string (a number, list, object, boolean or NaN)",
    "invalid_speaker": "a speaker is not a plausible name: it does not start with a letter (digits, a timestamp, a "
    "data value), is a word like 'inf' or 'null', or holds brackets, line breaks, tabs, control, zero-width or "
    "invisible characters",
    "speaker_not_allowed": "a speaker is not allowed by the benchmark",
    "empty_utterance": "an utterance is empty or has no visible character (only spaces, zero-width characters, byte "
    "order marks, joiners, fillers, braille blanks or combining marks)",
    "no_words": "an utterance has no letter or digit: only punctuation, symbols or Markdown markup (**, ---, ...)",
    "invalid_characters": "an utterance holds a control character (NUL, an ANSI escape, ...)",
    "utterance_too_long": "an utterance is longer than max_utterance_chars (the JSON schema's maxLength)",
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


# Letters that render as nothing: Hangul fillers and the braille blank.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Control characters other than tab and newline; ESC covers ANSI escape sequences.
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPEAKER_PUNCTUATION = frozenset(" .'’-&")
_VALUE_WORDS = frozenset({"inf", "infinity", "nan", "none", "null", "nil", "true", "false", "undefined"})
_MAX_GUEST_SPEAKER_CHARS = 40


def _is_visible(char: str) -> bool:
    """Whether a character shows ink: not a control, format, separator or combining mark, nor a blank letter."""
    return unicodedata.category(char)[0] not in "CZM" and char not in _BLANK_LETTERS


def _breaks_a_name(speaker: str) -> bool:
    """A line break, tab, other space than " ", or a control, format or unassigned character: refused in any speaker,
    even around or inside one of the benchmark's own names."""
    return any(char != " " and (char.isspace() or unicodedata.category(char)[0] == "C") for char in speaker)


def _speaker_problem(speaker: str, benchmark: Benchmark) -> str | None:
    """Why `speaker` is not a plausible name (guest speakers only; the benchmark's own names always are)."""
    if benchmark.canonical_speaker(speaker) in benchmark.speakers:
        return None
    if not speaker:
        return "speaker_not_allowed"
    if len(speaker) > _MAX_GUEST_SPEAKER_CHARS:
        return "invalid_speaker"
    if not unicodedata.category(speaker[0]).startswith("L") or speaker[0] in _BLANK_LETTERS:
        return "invalid_speaker"
    if speaker.strip(".").lower() in _VALUE_WORDS:
        return "invalid_speaker"
    for char in speaker:
        category = unicodedata.category(char)
        if char in _BLANK_LETTERS or not (category[0] in "LM" or category == "Nd" or char in _SPEAKER_PUNCTUATION):
            return "invalid_speaker"
    return None


def _utterance_problem(utterance: str, max_chars: int | None) -> str | None:
    if _CONTROL_RE.search(utterance):
        return "invalid_characters"
    if not any(_is_visible(char) for char in utterance):
        return "empty_utterance"
    if not any(unicodedata.category(char)[0] in "LN" and char not in _BLANK_LETTERS for char in utterance):
        return "no_words"  # markup (`**`, `---`), punctuation or symbols alone say nothing
    if max_chars is not None and len(utterance) > max_chars:
        return "utterance_too_long"
    return None


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
    max_utterance_chars: int | None = None,
) -> Verdict:
    """Checks one parsed output. Never raises on any parse result.

    Args:
        parsed: The parser's result.
        benchmark: Labels and speaker rules.
        min_turns: Fewest turns allowed (at least 2 in a run).
        max_turns: Most turns allowed.
        target_emotion: The balanced target label name, or None.
        seen: Fingerprints of dialogues already accepted.
        max_utterance_chars: Longest utterance allowed (the JSON schema's `maxLength`), or None for no limit.

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
        if has_lone_surrogate(turn.speaker) or has_lone_surrogate(turn.utterance):
            return Verdict(reason="invalid_unicode", message=f"turn {number}: {REASONS['invalid_unicode']}")
        if _breaks_a_name(turn.speaker):
            # Before the benchmark's names are looked up, which would strip a line break at either end.
            return Verdict(reason="invalid_speaker", message=f"turn {number}: speaker {ascii(turn.speaker):.60}")
        if not benchmark.is_allowed_speaker(turn.speaker):
            return Verdict(
                reason="speaker_not_allowed",
                message=f"turn {number}: speaker {turn.speaker!r:.60} is not one of {list(benchmark.speakers)}",
            )
        speaker_problem = _speaker_problem(turn.speaker, benchmark)
        if speaker_problem is not None:
            return Verdict(reason=speaker_problem, message=f"turn {number}: speaker {ascii(turn.speaker):.60}")
        utterance_problem = _utterance_problem(turn.utterance, max_utterance_chars)
        if utterance_problem == "utterance_too_long":
            message = f"turn {number}: {len(turn.utterance)} characters, more than {max_utterance_chars}"
            return Verdict(reason=utterance_problem, message=message)
        if utterance_problem is not None:
            return Verdict(reason=utterance_problem, message=f"turn {number}: utterance {ascii(turn.utterance):.80}")
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
