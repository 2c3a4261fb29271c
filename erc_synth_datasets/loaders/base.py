"""What every loader shares: the error, the load report, the dialogue being collected and the checks of a value."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..benchmarks import Benchmark
from ..errors import ErcSynthError
from ..files import parse_json, read_text_file
from ..vocabulary import SPLITS

__all__ = ["DataFileError", "LoadReport", "Reader"]


class DataFileError(ErcSynthError, ValueError):
    """A benchmark data file is missing or malformed; the message names the file (and line) and what was expected."""


@dataclass
class LoadReport:
    """What a load read and what it skipped, per split."""

    benchmark: str
    files: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, Counter] = field(default_factory=dict)
    notes: dict[str, Counter] = field(default_factory=dict)

    def skip(self, split: str, reason: str, count: int = 1) -> None:
        self.skipped.setdefault(split, Counter())[reason] += count

    def note(self, split: str, what: str, count: int = 1) -> None:
        self.notes.setdefault(split, Counter())[what] += count

    def summary(self) -> str:
        lines = []
        for split in SPLITS:
            if split in self.files:
                lines.append(f"{split}: {self.files[split]} ({self.formats[split]})")
            for reason, count in sorted(self.skipped.get(split, {}).items()):
                lines.append(f"  skipped {count}: {reason}")
            for what, count in sorted(self.notes.get(split, {}).items()):
                lines.append(f"  note {count}: {what}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "files": dict(self.files),
            "formats": dict(self.formats),
            "skipped": {split: dict(c) for split, c in self.skipped.items()},
            "notes": {split: dict(c) for split, c in self.notes.items()},
        }


@dataclass
class _Dialogue:
    dialogue_id: str
    speakers: list[str] = field(default_factory=list)
    utterances: list[str] = field(default_factory=list)
    emotions: list[str] = field(default_factory=list)

    def add(self, speaker: str, utterance: str, emotion: str) -> None:
        self.speakers.append(speaker)
        self.utterances.append(utterance)
        self.emotions.append(emotion)


# Reader signature: (path, benchmark, split, report) -> dialogues.
Reader = Callable[[Path, Benchmark, str, LoadReport], list[_Dialogue]]


def _check_label(label: str, benchmark: Benchmark, where: str) -> str:
    label = label.strip()
    if label not in benchmark.label2id:
        raise DataFileError(
            f"{where}: unknown {benchmark.display_name} label {label!r}; "
            f"valid labels are: {', '.join(benchmark.labels)}."
        )
    return label


def _check_speaker(speaker: str, benchmark: Benchmark, where: str) -> str:
    """The canonical speaker; refuses an empty one, and one outside the benchmark's speakers when they are closed."""
    speaker = benchmark.canonical_speaker(speaker)
    if not speaker:
        raise DataFileError(f"{where}: the speaker field is empty.")
    if not benchmark.other_speakers and speaker not in benchmark.speakers:
        allowed = sorted({*benchmark.speakers, *benchmark.speaker_aliases})
        raise DataFileError(
            f"{where}: unknown {benchmark.display_name} speaker {speaker!r}; expected one of {', '.join(allowed)}."
        )
    return speaker


def _check_not_empty(dialogues: list[_Dialogue], path: Path, expected: str) -> list[_Dialogue]:
    if not dialogues:
        raise DataFileError(f"{path}: no utterance found; expected {expected}.")
    return dialogues


def _read_text(path: Path) -> str:
    return read_text_file(path, what="Data file", error=DataFileError)


def _load_json(path: Path) -> Any:
    return parse_json(_read_text(path), where=str(path), error=DataFileError)


def _expect(value: Any, kind: type, where: str, what: str) -> Any:
    if not isinstance(value, kind):
        raise DataFileError(f"{where}: expected {what}, but got {type(value).__name__}.")
    return value


def _string(value: Any, where: str, what: str) -> str:
    """A JSON value that must be a string (numbers, lists and objects are refused, not turned into text)."""
    return _expect(value, str, where, what)


def _check_unique(seen: dict[str, str], key: str, where: str, what: str) -> None:
    if key in seen:
        raise DataFileError(f"{where}: {what} {key!r} repeats {seen[key]}; expected each {what} once.")
    seen[key] = where
