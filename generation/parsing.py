"""Lenient parsing of generated text into turns. `parse_output` never raises, whatever the input.

Two shapes are read:

- JSON (constrained decoding, or a model that answers in JSON anyway): `{"turns": [{"speaker", "utterance",
  "emotion"}, ...]}`, also a bare list of turns, code fences, and text around the document; common synonyms of the
  keys (`name`, `text`, `label`, ...) are accepted.
- The paper's free line format, `Speaker: utterance (number)`, tolerating list numbering and bullets, markdown
  emphasis, quotes around the utterance, the number in brackets, after a dash or as `Emotion: n`, and label words
  instead of numbers where they name exactly one label.

Turns whose label cannot be read keep `emotion=None` and say why in `problem`; deciding what is acceptable is the
validator's job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from erc_synth_datasets.benchmarks import Benchmark

from .prompts import LABEL_NUMBER_BASE

__all__ = ["ParseResult", "ParsedTurn", "parse_output", "resolve_label", "resolve_speaker"]


@dataclass
class ParsedTurn:
    """One utterance as read from the text.

    Args:
        speaker: The speaker (canonical benchmark spelling where recognised).
        utterance: The utterance text, stripped of quotes and markdown.
        emotion: The label NAME, or None when it could not be read.
        problem: Why the label is missing (`missing_label`, `label_out_of_range`, `unknown_label`), else None.
    """

    speaker: str
    utterance: str
    emotion: str | None
    problem: str | None = None


@dataclass
class ParseResult:
    """Turns read from one output, or the reason nothing could be read (`error`, a validation reason code)."""

    turns: list[ParsedTurn] = field(default_factory=list)
    error: str | None = None
    message: str = ""
    source_format: str = ""


def resolve_label(value: Any, benchmark: Benchmark) -> tuple[str | None, str | None]:
    """Maps a legend number or a label word onto a label name.

    Returns:
        `(label name, None)`, or `(None, problem code)`.
    """
    if isinstance(value, bool) or value is None:
        return None, "missing_label" if value is None else "unknown_label"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        position = value - LABEL_NUMBER_BASE
        if 0 <= position < benchmark.num_labels:
            return benchmark.labels[position], None
        return None, "label_out_of_range"
    text = str(value).strip().strip("*_`'\"()[]{}.,;:!").strip()
    if not text:
        return None, "missing_label"
    if re.fullmatch(r"[+-]?\d+", text):
        return resolve_label(int(text), benchmark)
    key = text.lower()
    matches = {
        label
        for label, word in zip(benchmark.labels, benchmark.label_words, strict=True)
        if key in (label.lower(), word.lower())
    }
    if len(matches) == 1:
        return matches.pop(), None
    return None, "unknown_label"


def resolve_speaker(name: str, benchmark: Benchmark) -> str:
    """Canonical spelling of a speaker: aliases, case-insensitive names, and first names that name one speaker."""
    name = re.sub(r"\s+", " ", name.strip().strip("*_`'\"[]#>").strip())
    name = benchmark.canonical_speaker(name)
    if name in benchmark.speakers:
        return name
    lowered = {speaker.lower(): speaker for speaker in benchmark.speakers}
    lowered.update({alias.lower(): canonical for alias, canonical in benchmark.speaker_aliases.items()})
    if name.lower() in lowered:
        return lowered[name.lower()]
    by_first = [speaker for speaker in benchmark.speakers if speaker.split()[0].lower() == name.lower()]
    return by_first[0] if len(by_first) == 1 else name


_FENCE_RE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_SPEAKER_KEYS = ("speaker", "name", "character", "role")
_UTTERANCE_KEYS = ("utterance", "text", "line", "content", "dialogue", "message")
_EMOTION_KEYS = ("emotion", "label", "number", "emotion_number", "emotion_id")


def _first_key(item: dict[str, Any], keys: tuple[str, ...]) -> Any:
    lowered = {str(k).lower(): v for k, v in item.items()}
    for key in keys:
        if key in lowered:
            return lowered[key]
    return None


def _find_turn_list(data: Any) -> list[Any] | None:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in ("turns", "dialogue", "conversation", "utterances", "lines"):
            if isinstance(data.get(key), list):
                return data[key]
        for value in data.values():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                return value
    return None


def _load_json(text: str) -> Any:
    """The first JSON document in `text` (code fences and surrounding prose allowed); raises ValueError if none."""
    fenced = _FENCE_RE.search(text)
    candidates = [fenced.group(1)] if fenced else []
    candidates.append(text)
    decoder = json.JSONDecoder()
    for candidate in candidates:
        candidate = candidate.strip()
        starts = sorted(position for position in (candidate.find("{"), candidate.find("[")) if position >= 0)
        for start in starts:
            try:
                value, _ = decoder.raw_decode(candidate[start:])
                return value
            except json.JSONDecodeError:
                continue
    raise ValueError("no complete JSON document")


def _parse_json(text: str, benchmark: Benchmark) -> ParseResult:
    try:
        data = _load_json(text)
    except (ValueError, RecursionError) as err:
        return ParseResult(error="invalid_json", message=f"not a complete JSON document ({err})", source_format="json")
    turns_data = _find_turn_list(data)
    if turns_data is None:
        return ParseResult(error="invalid_json", message="JSON without a list of turns", source_format="json")
    turns = []
    for item in turns_data:
        if not isinstance(item, dict):
            return ParseResult(
                error="invalid_json", message=f"a turn is not an object: {item!r:.80}", source_format="json"
            )
        speaker = _first_key(item, _SPEAKER_KEYS)
        utterance = _first_key(item, _UTTERANCE_KEYS)
        emotion, problem = resolve_label(_first_key(item, _EMOTION_KEYS), benchmark)
        turns.append(
            ParsedTurn(
                speaker=resolve_speaker("" if speaker is None else str(speaker), benchmark),
                utterance=_clean_utterance("" if utterance is None else str(utterance)),
                emotion=emotion,
                problem=problem,
            )
        )
    if not turns:
        return ParseResult(error="no_turns", message="the JSON list of turns is empty", source_format="json")
    return ParseResult(turns=turns, source_format="json")


_PREFIX_RE = re.compile(r"^\s*(?:[-*•>#]+\s*|\d{1,3}\s*[.)\]:-]\s+|\(\d{1,3}\)\s*)*")
_LINE_RE = re.compile(r"^(?P<speaker>[^:：\n]{1,60}?)\s*[:：]\s*(?P<rest>.*)$")
_LABEL_WORD = r"[A-Za-z][A-Za-z -]{0,20}|[+-]?\d{1,3}"
_TRAILING_LABEL_RES = (
    re.compile(
        rf"[\(\[\{{]\s*(?:emotion|label)?\s*[:=#]?\s*(?P<label>{_LABEL_WORD})\s*[\)\]\}}][\s.!?*_\"'”]*$", re.I
    ),
    re.compile(rf"(?:emotion|label)\s*[:=#]\s*(?P<label>{_LABEL_WORD})[\s.!?*_\"'”]*$", re.I),
    re.compile(r"\s[-–—|/]\s*(?P<label>[+-]?\d{1,3})[\s.!?*_\"'”]*$"),
    re.compile(r"(?<=[.!?\"'”*])\s*(?P<label>[+-]?\d{1,3})\s*$"),
)
_SPEAKER_LABEL_RE = re.compile(r"^(?P<speaker>.*?)\s*[\(\[]\s*(?P<label>[+-]?\d{1,3}|[A-Za-z]{2,20})\s*[\)\]]\s*$")


def _clean_utterance(text: str) -> str:
    text = text.strip()
    for _ in range(3):
        text = text.strip().strip("*_`").strip()
        if len(text) >= 2 and text[0] in "\"'“‘" and text[-1] in "\"'”’":
            text = text[1:-1]
    return text.strip()


def _parse_line(line: str, benchmark: Benchmark) -> ParsedTurn | None:
    line = _PREFIX_RE.sub("", line.strip())
    match = _LINE_RE.match(line)
    if not match:
        return None
    speaker_text, rest = match.group("speaker"), match.group("rest").strip()
    label_text: str | None = None
    speaker_label = _SPEAKER_LABEL_RE.match(speaker_text)
    if speaker_label:
        speaker_text, label_text = speaker_label.group("speaker"), speaker_label.group("label")
    if label_text is None:
        for pattern in _TRAILING_LABEL_RES:
            found = pattern.search(rest)
            if found:
                label_text = found.group("label")
                rest = rest[: found.start()]
                break
    speaker = resolve_speaker(speaker_text, benchmark)
    utterance = _clean_utterance(rest)
    if label_text is None:
        if speaker not in benchmark.speakers:
            # A heading or stage direction ("Scene: ..."), not a turn.
            return None
        return ParsedTurn(speaker=speaker, utterance=utterance, emotion=None, problem="missing_label")
    emotion, problem = resolve_label(label_text, benchmark)
    if problem == "unknown_label" and speaker not in benchmark.speakers:
        return None
    return ParsedTurn(speaker=speaker, utterance=utterance, emotion=emotion, problem=problem)


def _parse_lines(text: str, benchmark: Benchmark) -> ParseResult:
    text = _FENCE_RE.sub(lambda m: m.group(1), text)
    turns = [turn for line in text.splitlines() if (turn := _parse_line(line, benchmark)) is not None]
    if not turns:
        return ParseResult(
            error="no_turns", message="no `Speaker: utterance (number)` line found", source_format="lines"
        )
    return ParseResult(turns=turns, source_format="lines")


def parse_output(text: Any, benchmark: Benchmark, output_format: str = "json") -> ParseResult:
    """Reads the turns of one generated text. Never raises.

    Args:
        text: The backend's output (anything; non-text gives a `no_turns` result).
        benchmark: Gives the legend (numbers and label words) and the speakers.
        output_format: What the prompt asked for (`json` or `lines`); JSON-looking text is read as JSON and line
            text as lines either way.

    Returns:
        A `ParseResult` with the turns, or with `error` set to `invalid_json` or `no_turns`.
    """
    try:
        if not isinstance(text, str) or not text.strip():
            return ParseResult(error="no_turns", message="empty output", source_format=output_format)
        stripped = _FENCE_RE.sub(lambda m: m.group(1), text).strip()
        looks_json = stripped[:1] in ("{", "[") or (output_format == "json" and "{" in stripped[:200])
        if looks_json:
            result = _parse_json(text, benchmark)
            if result.error is None or stripped[:1] in ("{", "["):
                return result
        return _parse_lines(text, benchmark)
    except Exception as err:  # noqa: BLE001 - the parser must never raise; the reason is kept instead
        return ParseResult(error="no_turns", message=f"unparseable output ({type(err).__name__}: {err})")
