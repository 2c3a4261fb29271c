"""The benchmark registry: one definition per ERC benchmark, asked by every other module.

Canonical label order: each benchmark's labels are listed in the order its reference release numbers them (MELD's
repository, the EmoryNLP README, the DialogueRNN/CoMPM IEMOCAP index), so that label ids in erc-synth equal the ids
used by published code and checkpoints. The same order is used for the ``ClassLabel``, the numbered legend in the
prompts, the dataset cards and the classifier heads; it never comes from the data.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import read_yaml_mapping

__all__ = [
    "Benchmark",
    "BenchmarkError",
    "get_benchmark",
    "list_benchmarks",
    "load_benchmark_yaml",
    "register_benchmark",
]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class BenchmarkError(ValueError):
    """A benchmark name or definition is wrong."""


@dataclass(frozen=True)
class Benchmark:
    """Everything erc-synth needs to know about one ERC benchmark.

    Args:
        name: Registry key, lower case (`meld`); also the prefix of dataset config names (`meld_balanced`).
        display_name: Name as the benchmark's authors write it (`MELD`).
        labels: Label names exactly as the benchmark spells them, in canonical order (see the module docstring).
        label_words: Plain-language word for each label, used where a prompt names an emotion (`hap` -> `happy`).
            Defaults to the label names themselves.
        speakers: The speakers a generated dialogue should use (the main cast, or the fixed anonymous speakers).
        other_speakers: Whether names outside `speakers` are valid (guest characters in a sitcom). When False, every
            utterance must come from `speakers`.
        speaker_aliases: Spellings in benchmark files mapped onto canonical speaker names (`M` -> `Male`).
        description: One sentence on the benchmark's dialogues, used by generation prompts (task definition).
        min_speakers: The fewest distinct speakers a dialogue of this benchmark has.
        citation: BibTeX of the benchmark's paper, for dataset cards.
    """

    name: str
    display_name: str
    labels: tuple[str, ...]
    speakers: tuple[str, ...]
    description: str
    label_words: tuple[str, ...] = ()
    other_speakers: bool = True
    speaker_aliases: dict[str, str] = field(default_factory=dict)
    min_speakers: int = 1
    citation: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise BenchmarkError(
                f"A benchmark name must be lower-case letters, digits and underscores, starting with a letter, "
                f"but got name={self.name!r}."
            )
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "speakers", tuple(self.speakers))
        object.__setattr__(self, "label_words", tuple(self.label_words) or self.labels)
        object.__setattr__(self, "speaker_aliases", dict(self.speaker_aliases))
        if len(self.labels) < 2:
            raise BenchmarkError(
                f"Benchmark {self.name!r} needs at least 2 labels, but got labels={list(self.labels)}."
            )
        if len(set(self.labels)) != len(self.labels):
            raise BenchmarkError(f"Benchmark {self.name!r} has repeated labels: {list(self.labels)}.")
        if any(not isinstance(label, str) or not label.strip() for label in self.labels):
            raise BenchmarkError(f"Benchmark {self.name!r} has an empty or non-text label: {list(self.labels)}.")
        if len(self.label_words) != len(self.labels):
            raise BenchmarkError(
                f"Benchmark {self.name!r} has {len(self.labels)} labels but {len(self.label_words)} label_words; "
                "give one word per label, in the same order, or leave label_words out."
            )
        if not self.speakers:
            raise BenchmarkError(f"Benchmark {self.name!r} needs at least one speaker.")
        if not self.description.strip():
            raise BenchmarkError(f"Benchmark {self.name!r} needs a description (used in generation prompts).")

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def label_id(self, label: str) -> int:
        """The id of `label`; raises `BenchmarkError` listing the valid labels when it is not one of them."""
        try:
            return self.label2id[label]
        except KeyError:
            raise BenchmarkError(
                f"Unknown {self.display_name} label {label!r}; valid labels are: {', '.join(self.labels)}."
            ) from None

    def canonical_speaker(self, speaker: str) -> str:
        """Maps a spelling found in a benchmark file onto the canonical speaker name."""
        speaker = speaker.strip()
        return self.speaker_aliases.get(speaker, speaker)

    def is_allowed_speaker(self, speaker: str) -> bool:
        speaker = self.canonical_speaker(speaker)
        return bool(speaker) and (speaker in self.speakers or self.other_speakers)

    def to_dict(self) -> dict[str, Any]:
        """The definition as plain data, in the YAML layout `load_benchmark_yaml` reads."""
        return {
            "name": self.name,
            "display_name": self.display_name,
            "labels": list(self.labels),
            "label_words": list(self.label_words),
            "speakers": list(self.speakers),
            "other_speakers": self.other_speakers,
            "speaker_aliases": dict(self.speaker_aliases),
            "min_speakers": self.min_speakers,
            "description": self.description,
            "citation": self.citation,
        }


_FRIENDS_DESCRIPTION = (
    "a scene from the TV sitcom Friends, a casual everyday conversation between the Friends characters"
)

MELD = Benchmark(
    name="meld",
    display_name="MELD",
    labels=("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"),
    speakers=("Chandler", "Joey", "Monica", "Phoebe", "Rachel", "Ross"),
    other_speakers=True,
    description=_FRIENDS_DESCRIPTION,
    citation=(
        "@inproceedings{poria2019meld,\n  title={{MELD}: A Multimodal Multi-Party Dataset for Emotion Recognition in "
        "Conversations},\n  author={Poria, Soujanya and Hazarika, Devamanyu and Majumder, Navonil and "
        "Naik, Gautam and Cambria, Erik and Mihalcea, Rada},\n  booktitle={ACL},\n  year={2019}\n}"
    ),
)

EMORYNLP = Benchmark(
    name="emorynlp",
    display_name="EmoryNLP",
    labels=("Neutral", "Joyful", "Peaceful", "Powerful", "Scared", "Mad", "Sad"),
    speakers=("Chandler Bing", "Joey Tribbiani", "Monica Geller", "Phoebe Buffay", "Rachel Green", "Ross Geller"),
    other_speakers=True,
    description=_FRIENDS_DESCRIPTION,
    citation=(
        "@inproceedings{zahiri2018emotion,\n  title={Emotion Detection on {TV} Show Transcripts with Sequence-based "
        "Convolutional Neural Networks},\n  author={Zahiri, Sayyed M. and Choi, Jinho D.},\n  booktitle={AAAI "
        "Workshops},\n  year={2018}\n}"
    ),
)

IEMOCAP = Benchmark(
    name="iemocap",
    display_name="IEMOCAP",
    labels=("hap", "sad", "neu", "ang", "exc", "fru"),
    label_words=("happy", "sad", "neutral", "angry", "excited", "frustrated"),
    speakers=("Male", "Female"),
    other_speakers=False,
    speaker_aliases={"M": "Male", "F": "Female"},
    min_speakers=2,
    description="a conversation between an unnamed male speaker and an unnamed female speaker, acted in a "
    "scripted or improvised everyday situation",
    citation=(
        "@article{busso2008iemocap,\n  title={{IEMOCAP}: Interactive emotional dyadic motion capture database},\n  "
        "author={Busso, Carlos and Bulut, Murtaza and Lee, Chi-Chun and Kazemzadeh, Abe and Mower, Emily and Kim, "
        "Samuel and Chang, Jeannette N. and Lee, Sungbok and Narayanan, Shrikanth S.},\n  journal={Language Resources "
        "and Evaluation},\n  volume={42},\n  pages={335--359},\n  year={2008}\n}"
    ),
)

# A plain dict, as in datasets' packaged builders: name -> definition.
_REGISTRY: dict[str, Benchmark] = {b.name: b for b in (MELD, EMORYNLP, IEMOCAP)}


def list_benchmarks() -> list[str]:
    """Names of every registered benchmark, built-in and custom."""
    return sorted(_REGISTRY)


def register_benchmark(benchmark: Benchmark, *, overwrite: bool = False) -> Benchmark:
    """Adds a benchmark to the registry so that every module (prompts, datasets, trainers) can find it by name."""
    if benchmark.name in _REGISTRY and not overwrite and _REGISTRY[benchmark.name] != benchmark:
        raise BenchmarkError(
            f"A different benchmark named {benchmark.name!r} is already registered; choose another name "
            "or pass overwrite=True."
        )
    _REGISTRY[benchmark.name] = benchmark
    return benchmark


def get_benchmark(name_or_path: str | Path | Benchmark) -> Benchmark:
    """Returns a benchmark by registry name, or reads (and registers) a custom one from a YAML file.

    Raises:
        BenchmarkError: the name is unknown (the message suggests close names and lists the available ones).
    """
    if isinstance(name_or_path, Benchmark):
        return name_or_path
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return register_benchmark(load_benchmark_yaml(text), overwrite=True)
    key = text.strip().lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise BenchmarkError(
        f"Unknown benchmark {text!r}.{hint} Available: {', '.join(list_benchmarks())}. "
        "A custom benchmark can be given as the path of a YAML file (see configs/benchmarks/)."
    )


_YAML_FIELDS = {
    "name",
    "display_name",
    "labels",
    "label_words",
    "speakers",
    "other_speakers",
    "speaker_aliases",
    "min_speakers",
    "description",
    "citation",
}
_YAML_REQUIRED = ("name", "labels", "speakers", "description")


def load_benchmark_yaml(path: str | Path) -> Benchmark:
    """Reads a custom benchmark definition from YAML (keys: the fields of `Benchmark`)."""
    path = Path(path)
    data = read_yaml_mapping(path, what="Benchmark file", error=BenchmarkError)
    unknown = sorted(set(data) - _YAML_FIELDS)
    if unknown:
        raise BenchmarkError(
            f"Benchmark file {str(path)!r} has unknown keys {unknown}; valid keys are {sorted(_YAML_FIELDS)}."
        )
    missing = [key for key in _YAML_REQUIRED if key not in data]
    if missing:
        raise BenchmarkError(f"Benchmark file {str(path)!r} is missing required keys {missing}.")
    for key in ("labels", "speakers", "label_words"):
        if key in data and not isinstance(data[key], list):
            raise BenchmarkError(
                f"Benchmark file {str(path)!r}: {key!r} must be a list, but got {type(data[key]).__name__}."
            )
    data = dict(data)
    data.setdefault("display_name", str(data["name"]))
    data["labels"] = [str(label) for label in data["labels"]]
    data["speakers"] = [str(speaker) for speaker in data["speakers"]]
    data["speaker_aliases"] = {str(k): str(v) for k, v in (data.get("speaker_aliases") or {}).items()}
    try:
        return Benchmark(**data)
    except BenchmarkError as err:
        raise BenchmarkError(f"Benchmark file {str(path)!r}: {err}") from None
