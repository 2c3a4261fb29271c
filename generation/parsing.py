"""Lenient parsing of generated text into turns. `parse_output` never raises and never hangs, whatever the input.

Two shapes are read:

- JSON (constrained decoding, or a model that answers in JSON anyway): `{"turns": [{"speaker", "utterance",
  "emotion"}, ...]}`, also a bare list of turns, code fences, and text around the document; common synonyms of the
  keys (`name`, `text`, `label`, ...) are accepted.
- The paper's free line format, `Speaker: utterance (number)`, tolerating list numbering and bullets, markdown
  emphasis around the whole utterance, quotes around the utterance, a stage direction after the speaker
  (`Ross (angrily): ...`), the number in brackets, after a dash or as `Emotion: n`, and label words instead of numbers
  where they name exactly one label.

Every pattern runs on a bounded window (the speaker: 60 characters, the label: the last 48 characters of a line with
its whitespace collapsed), so parsing is linear in the length of the output. Turns whose label or text cannot be read
keep `emotion=None` and say why in `problem`; deciding what is acceptable is the validator's job.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from erc_synth_datasets.benchmarks import Benchmark

from .prompts import LABEL_NUMBER_BASE

__all__ = [
    "MAX_CANDIDATE_LINES",
    "MAX_TURNS",
    "ParseResult",
    "ParsedTurn",
    "first_json_document",
    "has_lone_surrogate",
    "parse_output",
    "resolve_label",
    "resolve_speaker",
    "storable_text",
]


@dataclass
class ParsedTurn:
    """One utterance as read from the text.

    Args:
        speaker: The speaker (canonical benchmark spelling where recognised).
        utterance: The utterance text, stripped of quotes and markdown.
        emotion: The label NAME, or None when it could not be read.
        problem: Why the turn cannot be used as read (`missing_label`, `label_out_of_range`, `unknown_label`,
            `conflicting_labels`, `non_text_value`), else None.
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


#: More turns than this, or more lines that could be turns, are not a dialogue: the output is rejected at once.
MAX_TURNS = 1000
MAX_CANDIDATE_LINES = 2000
_SURROGATES_RE = re.compile("[\ud800-\udfff]")
# A label is at most a short word or a three-digit number; anything longer is not one.
_MAX_LABEL_CHARS = 40


def has_lone_surrogate(text: str) -> bool:
    """Whether `text` holds a lone surrogate (which a served model's JSON escapes can carry; not valid Unicode)."""
    return _SURROGATES_RE.search(text) is not None


def has_control_character(text: str) -> bool:
    """Whether `text` holds a line break, tab or other control character (Unicode categories Cc, Zl, Zp)."""
    return any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in text)


def storable_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD, so that it can always be encoded as UTF-8 and stored."""
    return _SURROGATES_RE.sub("\ufffd", text)


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
    if not isinstance(value, str):
        return None, "unknown_label"
    text = value.strip().strip("*_`'\"()[]{}.,;:!").strip()
    if not text:
        return None, "missing_label"
    if len(text) > _MAX_LABEL_CHARS:
        return None, "unknown_label"
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


# Space characters (Unicode category Zs): runs of them become one space in a speaker's name.
_SPACES_RE = re.compile("[\u0020\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")


def resolve_speaker(name: str, benchmark: Benchmark) -> str:
    """Canonical spelling of a speaker: aliases, case-insensitive names, and first names that name one speaker."""
    name = _SPACES_RE.sub(" ", name).strip(" ").strip("*_`'\"[]#>").strip(" ")
    if has_control_character(name):
        return name  # a line break, tab or other control character anywhere: kept, for the validator to refuse
    name = benchmark.canonical_speaker(name)
    if name in benchmark.speakers:
        return name
    lowered = {speaker.lower(): speaker for speaker in benchmark.speakers}
    lowered.update({alias.lower(): canonical for alias, canonical in benchmark.speaker_aliases.items()})
    if name.lower() in lowered:
        return lowered[name.lower()]
    by_first = [speaker for speaker in benchmark.speakers if speaker.split()[0].lower() == name.lower()]
    return by_first[0] if len(by_first) == 1 else name


_FENCE = "```"
_SPEAKER_KEYS = ("speaker", "name", "character", "role")
_UTTERANCE_KEYS = ("utterance", "text", "line", "content", "dialogue", "message")
_EMOTION_KEYS = ("emotion", "label", "number", "emotion_number", "emotion_id")


def _fenced_blocks(text: str) -> tuple[str | None, str]:
    """The content of the first complete code fence (or None), and `text` with every fence marker line removed.

    Uses `str.find` only, so it is linear in the length of the text whatever the fences hold.
    """
    first: str | None = None
    start = text.find(_FENCE)
    if start >= 0:
        end = text.find(_FENCE, start + len(_FENCE))
        if end >= 0:
            body = text[start + len(_FENCE) : end]
            first = body[4:] if body[:4].lower() == "json" else body
    if start < 0:
        return None, text
    unfenced = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(_FENCE):
            line = line[len(_FENCE) :]
            if line.isalpha() or not line:
                continue  # a fence line, perhaps with its language tag
        if line.endswith(_FENCE):
            line = line[: -len(_FENCE)]
        unfenced.append(line)
    return first, "\n".join(unfenced)


def first_json_document(text: str) -> Any:
    """The first complete JSON document in `text`: in its first code fence if it has one, else anywhere in it
    (surrounding prose allowed).

    Raises:
        ValueError: the text holds no complete JSON document.
    """
    return _load_json(text, _fenced_blocks(text)[0])


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


def _load_json(text: str, fenced: str | None) -> Any:
    """The first JSON document in the fence or in `text` (surrounding prose allowed); raises ValueError if none."""
    candidates = [fenced, text] if fenced is not None else [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        candidate = candidate.strip()
        starts = sorted(position for position in (candidate.find("{"), candidate.find("[")) if position >= 0)
        for start in starts:
            try:
                value, _ = decoder.raw_decode(candidate, start)
                return value
            except json.JSONDecodeError:
                continue
    raise ValueError("no complete JSON document")


def _json_label(item: dict[str, Any], benchmark: Benchmark) -> tuple[str | None, str | None]:
    """The label of a JSON turn; every label-like key present must agree."""
    lowered = {str(k).lower(): v for k, v in item.items()}
    present = [lowered[key] for key in _EMOTION_KEYS if lowered.get(key) is not None]
    if not present:
        return None, "missing_label"
    resolved = [resolve_label(value, benchmark) for value in present]
    names = {name for name, _ in resolved if name is not None}
    if len(names) > 1 or (names and len(resolved) > 1 and any(problem for _, problem in resolved)):
        return None, "conflicting_labels"
    return resolved[0] if not names else (names.pop(), None)


def _json_text(value: Any) -> tuple[str, bool]:
    """A JSON speaker or utterance as text, and whether it was a string (null counts as an empty string)."""
    if value is None:
        return "", True
    if isinstance(value, str):
        return value, True
    return str(value), False


def _parse_json(text: str, fenced: str | None, benchmark: Benchmark) -> ParseResult:
    try:
        data = _load_json(text, fenced)
    except (ValueError, RecursionError) as err:
        return ParseResult(error="invalid_json", message=f"not a complete JSON document ({err})", source_format="json")
    turns_data = _find_turn_list(data)
    if turns_data is None:
        return ParseResult(error="invalid_json", message="JSON without a list of turns", source_format="json")
    if len(turns_data) > MAX_TURNS:
        return _too_long(len(turns_data), "turns", "json")
    turns = []
    for item in turns_data:
        if not isinstance(item, dict):
            return ParseResult(
                error="invalid_json", message=f"a turn is not an object: {item!r:.80}", source_format="json"
            )
        speaker, speaker_is_text = _json_text(_first_key(item, _SPEAKER_KEYS))
        utterance, utterance_is_text = _json_text(_first_key(item, _UTTERANCE_KEYS))
        emotion, problem = _json_label(item, benchmark)
        if not (speaker_is_text and utterance_is_text):
            emotion, problem = None, "non_text_value"
        turns.append(
            ParsedTurn(
                speaker=resolve_speaker(speaker, benchmark) if speaker_is_text else speaker,
                utterance=_clean_utterance(utterance) if utterance_is_text else utterance,
                emotion=emotion,
                problem=problem,
            )
        )
    if not turns:
        return ParseResult(error="no_turns", message="the JSON list of turns is empty", source_format="json")
    return ParseResult(turns=turns, source_format="json")


# Every pattern below runs on whitespace-collapsed text (single spaces), so ` ?` never has to try alternatives.
_PREFIX_RE = re.compile(r"(?:[-*•>#]{1,8} ?|\d{1,3} ?[.)\]:-] |[(\[]\d{1,3}[)\]] ?){0,8}")
_MAX_SPEAKER_CHARS = 60
_SPEAKER_PART_RE = re.compile(r"(?P<speaker>[^()\[\]]+?) ?[(\[] ?(?P<inner>[^()\[\]]{1,30}?) ?[)\]]")
_LABEL_WORD = r"[A-Za-z][A-Za-z -]{0,20}|[+-]?\d{1,3}"
_LABEL_WINDOW = 48
# Each finds a label at the end of an utterance; `cut` is where the utterance ends.
_TRAILING_LABEL_RES = (
    re.compile(rf"(?P<cut>)[(\[{{] ?(?:(?:emotion|label) ?[:=#]? ?)?(?P<label>{_LABEL_WORD}) ?[)\]}}]$", re.I),
    re.compile(rf"(?P<cut>)(?:emotion|label) ?[:=#] ?(?P<label>{_LABEL_WORD})$", re.I),
    # "utterance - 4", but not "the score is 3 - 2" nor "Covid-19".
    re.compile(r"(?<![\d ])(?P<cut>) [-–—|/] ?(?P<label>[+-]?\d{1,3})$"),
    # "Really?! 2", but not "Pi is 3.1".
    re.compile(r"(?<!\d\.)(?<=[.!?\"'”*])(?P<cut>) ?(?P<label>[+-]?\d{1,3})$"),
)
_TRAILING_JUNK = " .!?*_\"'”’"
_NUMBER_RE = re.compile(r"[+-]?\d{1,3}")
_EMPHASIS = ("**", "__", "*", "_", "`")


def _clean_utterance(text: str) -> str:
    """Removes quotes and markdown emphasis that wrap the WHOLE utterance; inner `*sighs*` or `_not_` stay."""
    text = text.strip()
    for _ in range(4):
        before = text
        for marker in _EMPHASIS:
            inner = text[len(marker) : -len(marker)]
            if text.startswith(marker) and text.endswith(marker) and inner.strip() and marker not in inner:
                text = inner.strip()
                break
        if len(text) >= 2 and text[0] in "\"'“‘" and text[-1] in "\"'”’":
            text = text[1:-1].strip()
        if text == before:
            break
    return text


def _take_trailing_label(rest: str) -> tuple[str, str | None]:
    """Splits `utterance (label)` into the utterance and the label text (None when there is no label)."""
    core = rest.rstrip(_TRAILING_JUNK)
    offset = max(0, len(core) - _LABEL_WINDOW)
    window = core[offset:]
    for pattern in _TRAILING_LABEL_RES:
        found = pattern.search(window)
        if found:
            return rest[: offset + found.start("cut")], found.group("label")
    return rest, None


def _split_speaker(line: str) -> tuple[str, str] | None:
    """`speaker: rest` with the speaker at most 60 characters, else None."""
    head = line[: _MAX_SPEAKER_CHARS + 1]
    positions = [position for position in (head.find(":"), head.find("：")) if position > 0]
    if not positions:
        return None
    colon = min(positions)
    speaker = line[:colon].strip()
    return (speaker, line[colon + 1 :].strip()) if speaker else None


def _is_label(text: str, benchmark: Benchmark) -> bool:
    """Whether `text` is a legend number (in range or not) or names exactly one label."""
    return bool(_NUMBER_RE.fullmatch(text)) or resolve_label(text, benchmark)[1] is None


def _line_labels(speaker_text: str, rest: str, benchmark: Benchmark) -> tuple[str, str, list[str]]:
    """The speaker, utterance and every label written on one line (after the speaker or at the end, or both)."""
    labels: list[str] = []
    part = _SPEAKER_PART_RE.fullmatch(speaker_text)
    if part:
        inner = part.group("inner")
        # A number or label word after the speaker is a label; anything else is a stage direction.
        if _is_label(inner, benchmark):
            labels.append(inner)
        speaker_text = part.group("speaker")
    rest, label = _take_trailing_label(rest)
    if label is not None:
        labels.append(label)
        while len(labels) < 4:
            before, label = _take_trailing_label(rest)
            # A further label counts only when it is a number or a label word, not any words in brackets.
            if label is None or not _is_label(label, benchmark):
                break
            rest = before
            labels.append(label)
    return speaker_text, rest, labels


def _parse_line(line: str, benchmark: Benchmark) -> ParsedTurn | None:
    line = " ".join(line.split())
    prefix = _PREFIX_RE.match(line)
    line = line[prefix.end() :] if prefix else line
    split = _split_speaker(line)
    if split is None:
        return None
    speaker_text, rest, labels = _line_labels(*split, benchmark)
    speaker = resolve_speaker(speaker_text, benchmark)
    utterance = _clean_utterance(rest)
    if not labels:
        if speaker not in benchmark.speakers:
            # A heading or stage direction ("Scene: ..."), not a turn.
            return None
        return ParsedTurn(speaker=speaker, utterance=utterance, emotion=None, problem="missing_label")
    resolved = [resolve_label(label, benchmark) for label in labels]
    if len(resolved) > 1 and len(set(resolved)) > 1:
        return ParsedTurn(speaker=speaker, utterance=utterance, emotion=None, problem="conflicting_labels")
    emotion, problem = resolved[0]
    if problem == "unknown_label" and speaker not in benchmark.speakers:
        return None
    return ParsedTurn(speaker=speaker, utterance=utterance, emotion=emotion, problem=problem)


def _too_long(count: int, what: str, source_format: str) -> ParseResult:
    message = f"{count} or more {what}, more than any dialogue has"
    return ParseResult(error="output_too_long", message=message, source_format=source_format)


def _parse_lines(text: str, benchmark: Benchmark) -> ParseResult:
    turns = []
    candidates = 0
    for line in text.splitlines():
        if ":" not in line and "：" not in line:
            continue
        candidates += 1
        if candidates > MAX_CANDIDATE_LINES:
            return _too_long(candidates, "lines with a colon", "lines")
        turn = _parse_line(line, benchmark)
        if turn is not None:
            turns.append(turn)
    if len(turns) > MAX_TURNS:
        return _too_long(len(turns), "turns", "lines")
    if not turns:
        return ParseResult(
            error="no_turns", message="no `Speaker: utterance (number)` line found", source_format="lines"
        )
    return ParseResult(turns=turns, source_format="lines")


def parse_output(text: Any, benchmark: Benchmark, output_format: str = "json") -> ParseResult:
    """Reads the turns of one generated text. Never raises; linear in the length of `text`.

    Args:
        text: The backend's output (anything; non-text gives a `no_turns` result).
        benchmark: Gives the legend (numbers and label words) and the speakers.
        output_format: What the prompt asked for (`json` or `lines`); JSON-looking text is read as JSON and line
            text as lines either way (a JSON-looking answer that is not JSON is tried as lines).

    Returns:
        A `ParseResult` with the turns, or with `error` set to `invalid_unicode`, `invalid_json`, `output_too_long`
        (over `MAX_TURNS` turns or `MAX_CANDIDATE_LINES` lines with a colon) or `no_turns`.
    """
    try:
        if not isinstance(text, str) or not text.strip():
            return ParseResult(error="no_turns", message="empty output", source_format=output_format)
        surrogate = _SURROGATES_RE.search(text)
        if surrogate:
            return ParseResult(
                error="invalid_unicode",
                message=f"lone surrogate {surrogate.group()!r} at character {surrogate.start()}",
                source_format=output_format,
            )
        fenced, unfenced = _fenced_blocks(text)
        stripped = (fenced if fenced is not None else unfenced).strip()
        looks_json = stripped[:1] in ("{", "[") or (output_format == "json" and "{" in stripped[:200])
        if not looks_json:
            return _parse_lines(unfenced, benchmark)
        result = _parse_json(text, fenced, benchmark)
        if result.error is None:
            return result
        lines = _parse_lines(unfenced, benchmark)
        return lines if lines.error is None or stripped[:1] not in ("{", "[") else result
    except Exception as err:  # noqa: BLE001 - the parser must never raise; the reason is kept instead
        return ParseResult(error="no_turns", message=f"unparseable output ({type(err).__name__}: {err})")
