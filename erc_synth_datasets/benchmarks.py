"""The benchmark registry: one definition per ERC benchmark, asked by every other module.

Canonical label order: each benchmark's labels are listed in the order its reference release numbers them (MELD's
repository, the EmoryNLP README, the DialogueRNN/CoMPM IEMOCAP index), so that label ids in erc-synth equal the ids
used by published code and checkpoints. The same order is used for the ``ClassLabel``, the numbered legend in the
prompts, the dataset cards and the classifier heads; it never comes from the data.

Each built-in benchmark is one folder of package data, `erc_synth_datasets/builtin_benchmarks/<name>/`: its
definition (`benchmark.yaml`), prompt templates (`prompts/`), reference figures (`reference.yaml`) and turns histogram
(`turns.yaml`). The folder is read by `load_benchmark_yaml`, the same code that reads a custom benchmark's YAML, so a
custom benchmark is the same thing outside the package: its companion files sit beside its YAML.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ErcSynthError
from .files import read_yaml_mapping
from .registry import Registry
from .vocabulary import SPLITS

__all__ = [
    "Benchmark",
    "BenchmarkError",
    "BUILTIN_BENCHMARKS_DIR",
    "builtin_benchmarks",
    "BenchmarkFiles",
    "FILE_TYPES",
    "GENERIC_FORMAT",
    "ROLES",
    "GenericData",
    "ReleaseFormat",
    "get_benchmark",
    "list_benchmarks",
    "load_benchmark_yaml",
    "register_benchmark",
]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class BenchmarkError(ErcSynthError, ValueError):
    """A benchmark name or definition is wrong."""


# The generic real-data format's file layout: the `data:` section of a benchmark definition (read by
# `erc_synth_datasets.loaders.generic`).
GENERIC_FORMAT = "generic"

# Column roles, in the order the module docstring lists them.
ROLES = ("dialogue_id", "turn", "speaker", "utterance", "emotion", "split")
_REQUIRED_ROLES = ("dialogue_id", "speaker", "utterance", "emotion")

# File type -> file name suffixes.
FILE_TYPES: dict[str, tuple[str, ...]] = {
    "csv": (".csv",),
    "tsv": (".tsv",),
    "jsonl": (".jsonl", ".ndjson"),
    "parquet": (".parquet", ".pq"),
}

# How releases spell the splits; `split_values` in the YAML adds to these.
_SPLIT_SPELLINGS = {
    "train": "train",
    "training": "train",
    "trn": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "tst": "test",
}

_DATA_KEYS = ("files", "columns", "label_map", "split_values", "format")


def _default_split_files() -> dict[str, tuple[str, ...]]:
    return {split: (f"{split}.*",) for split in SPLITS}


@dataclass(frozen=True)
class GenericData:
    """Where a benchmark's real files are and how to read them (the `data:` section of a benchmark YAML).

    Args:
        split_files: Split -> file names or glob patterns (several matches are read in sorted order, one after the
            other). Relative patterns are resolved against the data folder (`--data-dir`) or, without one, the
            folder of the benchmark YAML.
        files: Instead of `split_files`: file names or patterns holding every split, told apart by the `split`
            column.
        columns: Role -> column name, for the roles whose column is not named after the role.
        label_map: Value found in the emotion column -> the benchmark's label name (ids or other spellings). When it
            holds any id, ids are read through it only.
        split_values: Value found in the split column -> `train`, `validation` or `test` (adds to the usual
            spellings: dev, valid, val, trn, tst, training).
        format: `csv`, `tsv`, `jsonl` or `parquet` for every file; None reads each file's type from its extension.
        base_dir: The folder relative patterns are resolved against when no data folder is given.
    """

    split_files: dict[str, tuple[str, ...]] = field(default_factory=_default_split_files)
    files: tuple[str, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)
    label_map: dict[str, str] = field(default_factory=dict)
    split_values: dict[str, str] = field(default_factory=dict)
    format: str | None = None
    base_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.files:
            object.__setattr__(self, "split_files", {})
        unknown_splits = sorted(set(self.split_files) - set(SPLITS))
        if unknown_splits:
            raise BenchmarkError(f"data.files has unknown splits {unknown_splits}; splits are {list(SPLITS)}.")
        unknown_roles = sorted(set(self.columns) - set(ROLES))
        if unknown_roles:
            raise BenchmarkError(f"data.columns has unknown roles {unknown_roles}; roles are {list(ROLES)}.")
        if self.format is not None and self.format not in FILE_TYPES:
            raise BenchmarkError(f"data.format must be one of {list(FILE_TYPES)}, but got format={self.format!r}.")
        bad_splits = {k: v for k, v in self.split_values.items() if v not in SPLITS}
        if bad_splits:
            raise BenchmarkError(f"data.split_values must map onto {list(SPLITS)}, but got {bad_splits}.")

    def column(self, role: str) -> str:
        """The column name of a role (the role's own name unless `columns` renames it)."""
        return self.columns.get(role, role)

    @property
    def uses_default_files(self) -> bool:
        return not self.files and self.split_files == _default_split_files()

    def split_of(self, value: Any) -> str | None:
        """The split a value of the split column stands for, or None."""
        key = _text_key(value)
        return self.split_values.get(key) or _SPLIT_SPELLINGS.get(key.lower())

    def check_labels(self, benchmark: Benchmark) -> None:
        """Refuses a `label_map` whose targets are not the benchmark's labels."""
        wrong = {k: v for k, v in self.label_map.items() if v not in benchmark.label2id}
        if wrong:
            raise BenchmarkError(
                f"data.label_map maps onto labels {benchmark.display_name} does not define: {wrong}; its labels are "
                f"{list(benchmark.labels)}."
            )

    @classmethod
    def from_dict(cls, data: Any, *, base_dir: Path | None = None) -> GenericData:
        """Reads the `data:` section of a benchmark YAML (see docs/benchmarks.md).

        Raises:
            BenchmarkError: an unknown key, or a value of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise BenchmarkError(f"'data' must be a mapping with keys {list(_DATA_KEYS)}, but got {data!r}.")
        unknown = sorted(set(data) - set(_DATA_KEYS))
        if unknown:
            raise BenchmarkError(f"'data' has unknown keys {unknown}; valid keys are {list(_DATA_KEYS)}.")
        kwargs: dict[str, Any] = {"base_dir": base_dir, "format": data.get("format")}
        files = data.get("files")
        if isinstance(files, Mapping):
            kwargs["split_files"] = {
                str(split): _patterns(value, f"data.files.{split}") for split, value in files.items()
            }
        elif files is not None:
            kwargs["files"] = _patterns(files, "data.files")
        for key in ("columns", "label_map", "split_values"):
            value = data.get(key) or {}
            if not isinstance(value, Mapping):
                raise BenchmarkError(f"'data.{key}' must be a mapping, but got {type(value).__name__}.")
            kwargs[key] = {_text_key(k): str(v) for k, v in value.items()}
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The section as plain data, in the layout `from_dict` reads."""
        files: Any = list(self.files) if self.files else {s: list(p) for s, p in self.split_files.items()}
        return {
            "files": files,
            "columns": dict(self.columns),
            "label_map": dict(self.label_map),
            "split_values": dict(self.split_values),
            "format": self.format,
        }


def _patterns(value: Any, where: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise BenchmarkError(f"'{where}' must be a file name or pattern, or a list of them, but got {value!r}.")
    return tuple(values)


def _text_key(value: Any) -> str:
    """The text form of a cell used to look it up (`3`, `3.0` and `"3"` are all `"3"`)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


@dataclass(frozen=True)
class ReleaseFormat:
    """One release format of a benchmark (an entry of the YAML's `formats:` section): which reader of
    `erc_synth_datasets.loaders` reads it and the file of each split (found in the data folder or its subfolders).

    Args:
        reader: The reader's name (`meld_csv`, `emorynlp_json`, `tsv`, `dagerc_json`).
        files: Split -> file name, for each of train, validation and test.
    """

    reader: str
    files: dict[str, str]

    @classmethod
    def from_dict(cls, name: str, value: Any) -> ReleaseFormat:
        """Reads one entry of `formats:` (`name` is its key).

        Raises:
            BenchmarkError: not a mapping of `reader` and `files`, or `files` lacks a split.
        """
        where = f"formats.{name}"
        if not isinstance(value, Mapping) or set(value) != {"reader", "files"}:
            raise BenchmarkError(f"{where!r} must be a mapping with keys ['files', 'reader'], but got {value!r}.")
        reader, files = value["reader"], value["files"]
        if not isinstance(reader, str) or not reader.strip():
            raise BenchmarkError(f"'{where}.reader' must name a reader, but got {reader!r}.")
        if not isinstance(files, Mapping) or set(files) != set(SPLITS):
            raise BenchmarkError(f"'{where}.files' must name one file for each of {list(SPLITS)}, but got {files!r}.")
        if not all(isinstance(f, str) and f.strip() for f in files.values()):
            raise BenchmarkError(f"'{where}.files' must hold file names, but got {dict(files)!r}.")
        return cls(reader=reader.strip(), files={split: str(files[split]) for split in SPLITS})


@dataclass(frozen=True)
class BenchmarkFiles:
    """The files that travel with a benchmark definition, as paths (relative keys of the YAML resolved against its
    folder). A built-in benchmark names them in its `benchmark.yaml`; a custom one may, else they sit beside its YAML
    as `<stem>.reference.yaml` and `<stem>.turns.yaml`.

    Args:
        definition: The YAML file the definition was read from.
        prompt_file: The benchmark's default prompt template (YAML key `prompt_file`), or None for the default one.
        reference: The stored reference figures (`reference`; see `erc_synth_datasets.quality.reference`).
        turns_histogram: The real train split's turns-per-dialogue histogram (`turns_histogram`; see
            `erc_synth_datasets.turn_histogram`), shipped for a built-in benchmark and computed from the real data
            and cached there for a custom one.
    """

    definition: Path
    prompt_file: Path | None
    reference: Path
    turns_histogram: Path

    @property
    def folder(self) -> Path:
        return self.definition.parent

    @property
    def prompts_dir(self) -> Path:
        """The folder of the benchmark's own prompt templates (`prompts/` beside the definition)."""
        return self.folder / "prompts"


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
        data: Where the benchmark's real files are and how to read them (the YAML's `data:` section, a
            `GenericData`); None for the release formats of the built-in benchmarks. Not part of the
            definition's identity: it is left out of `to_dict` and of comparisons.
        licence: The licence of the real data (an identifier such as `gpl-3.0`, `cc-by-nc-sa-4.0` or `other`), for
            the cards of data imitating it; empty when unknown. Not part of comparisons.
        formats: Release format -> `ReleaseFormat`, in the order `format="auto"` tries them (the YAML's `formats:`
            section); empty for the generic format. Not part of the identity.
        files: The files beside the definition (`BenchmarkFiles`); None for a definition made in Python or read
            from a run's manifest. Not part of the identity.
        order: Where a built-in benchmark is listed among the built-in ones.
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
    data: GenericData | None = field(default=None, compare=False, repr=False)
    licence: str = field(default="", compare=False)
    formats: dict[str, ReleaseFormat] = field(default_factory=dict, compare=False, repr=False)
    files: BenchmarkFiles | None = field(default=None, compare=False, repr=False)
    order: int = field(default=0, compare=False, repr=False)

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
        if not isinstance(self.licence, str):
            raise BenchmarkError(f"Benchmark {self.name!r}: licence must be text, but got {self.licence!r}.")
        object.__setattr__(self, "licence", self.licence.strip())

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
        """The definition as plain data, in the YAML layout `load_benchmark_yaml` reads (with `licence` when it is
        known; `identity` leaves it out)."""
        data = self.identity()
        if self.licence:
            data["licence"] = self.licence
        return data

    def identity(self) -> dict[str, Any]:
        """The fields that decide what a generated dialogue looks like (hashed into a run's settings)."""
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


#: The folder of the built-in benchmarks: one folder each, `<name>/benchmark.yaml` plus its companion files.
BUILTIN_BENCHMARKS_DIR = Path(__file__).resolve().parent / "builtin_benchmarks"
DEFINITION_FILE = "benchmark.yaml"


def _builtin_definitions() -> list[Benchmark]:
    """Every folder of `BUILTIN_BENCHMARKS_DIR`, read by `load_benchmark_yaml`, in their `order`."""
    found = []
    for folder in sorted(p for p in BUILTIN_BENCHMARKS_DIR.iterdir() if (p / DEFINITION_FILE).is_file()):
        benchmark = load_benchmark_yaml(folder / DEFINITION_FILE, builtin=True)
        if benchmark.name != folder.name:
            raise BenchmarkError(
                f"{folder / DEFINITION_FILE}: a built-in benchmark's folder is named after it, but the folder "
                f"{folder.name!r} holds name={benchmark.name!r}."
            )
        found.append(benchmark)
    return sorted(found, key=lambda b: (b.order, b.name))


# name -> definition (the project's one registry helper: did-you-mean errors).
_REGISTRY: Registry[Benchmark] = Registry(
    "benchmark",
    {},
    error=BenchmarkError,
    hint="A custom benchmark can be given as the path of a YAML file (see configs/benchmarks/).",
    lazy=False,
)


def _check_custom_name(benchmark: Benchmark, source: str, *, path: str = "object") -> None:
    """The one rule for names: a custom benchmark may not take a built-in benchmark's name. Every path to a
    benchmark goes through here, so every command refuses it with the same message:

    - `path="file"` (`load_benchmark_yaml`): a YAML file never defines a built-in benchmark;
    - `path="register"` (`register_benchmark`): only the built-in definition itself may stand under its name;
    - `path="object"` (`get_benchmark` given a `Benchmark`): a definition rebuilt from a run's manifest passes as long
      as its labels (the ids of every dataset and model) are the built-in ones.
    """
    builtin = _registry().get(benchmark.name) if benchmark.name in builtin_benchmarks() else None
    if builtin is None:
        return
    differs = {"file": True, "register": benchmark != builtin, "object": benchmark.labels != builtin.labels}[path]
    if differs:
        raise BenchmarkError(
            f"{source}: the name {benchmark.name!r} belongs to the built-in benchmark {builtin.display_name}; a "
            "custom benchmark needs a name of its own, because datasets, results and tables are named after it. "
            f"Change `name:` (for example to '{benchmark.name}_custom'); to read the built-in benchmark from "
            "converted files, use its name with format='generic' (`--format generic`) instead."
        )


def list_benchmarks() -> list[str]:
    """Names of every registered benchmark, built-in and custom."""
    return sorted(_registry())


def register_benchmark(benchmark: Benchmark, *, overwrite: bool = False) -> Benchmark:
    """Adds a benchmark to the registry so that every module (prompts, datasets, trainers) can find it by name.

    Raises:
        BenchmarkError: the name is a built-in benchmark's (always refused), or another custom benchmark's (unless
            `overwrite`).
    """
    _check_custom_name(benchmark, f"Benchmark {benchmark.display_name!r}", path="register")
    registry = _registry()
    if benchmark.name in registry and not overwrite and registry.get(benchmark.name) != benchmark:
        raise BenchmarkError(
            f"A different benchmark named {benchmark.name!r} is already registered; choose another name "
            "or pass overwrite=True."
        )
    registry.register(benchmark.name, benchmark, overwrite=True)
    return benchmark


def get_benchmark(name_or_path: str | Path | Benchmark) -> Benchmark:
    """Returns a benchmark by registry name, or reads (and registers) a custom one from a YAML file.

    Raises:
        BenchmarkError: the name is unknown (the message suggests close names and lists the available ones).
    """
    if isinstance(name_or_path, Benchmark):
        _check_custom_name(name_or_path, f"Benchmark {name_or_path.display_name!r}")
        if name_or_path.files is None and name_or_path.name in builtin_benchmarks():
            # A built-in definition rebuilt from a run's manifest: its files and release formats are the folder's.
            registered = _registry().get(name_or_path.name)
            return dataclasses.replace(
                name_or_path,
                formats=registered.formats,
                files=registered.files,
                licence=name_or_path.licence or registered.licence,
            )
        return name_or_path
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return register_benchmark(load_benchmark_yaml(text), overwrite=True)  # load_benchmark_yaml checks the name
    key = text.strip().lower()
    registry = _registry()
    return registry.get(key if key in registry else text)


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
    "data",
    "licence",
    "formats",
    "prompt_file",
    "reference",
    "turns_histogram",
    "order",
}
# Keys naming companion files (relative to the YAML's folder), and where each is without the key.
_FILE_KEYS = {"prompt_file": None, "reference": "{stem}.reference.yaml", "turns_histogram": "{stem}.turns.yaml"}
_YAML_REQUIRED = ("name", "labels", "speakers", "description")


def _companion_files(path: Path, data: dict[str, Any]) -> BenchmarkFiles:
    """The companion files a definition names (`prompt_file`, `reference`, `turns_histogram`), or their defaults."""
    resolved: dict[str, Path | None] = {}
    for key, default in _FILE_KEYS.items():
        value = data.pop(key, None)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise BenchmarkError(f"{key!r} must be a file name relative to the benchmark file, but got {value!r}.")
        name = value or (default.format(stem=path.stem) if default else None)
        resolved[key] = path.parent / Path(name).expanduser() if name else None
    return BenchmarkFiles(definition=path, **resolved)  # type: ignore[arg-type]


def load_benchmark_yaml(path: str | Path, *, builtin: bool = False) -> Benchmark:
    """Reads a benchmark definition from YAML (keys: the fields of `Benchmark`; see docs/benchmarks.md): a custom
    benchmark's file, or a built-in one's `benchmark.yaml` (`builtin=True`, the only way to use a built-in name).

    Raises:
        BenchmarkError: a missing or unknown key, a wrong value, or a built-in benchmark's name.
    """
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
        data["files"] = _companion_files(path.resolve(), data)
        formats = data.get("formats") or {}
        if not isinstance(formats, Mapping):
            raise BenchmarkError(f"'formats' must be a mapping of format names, but got {formats!r}.")
        data["formats"] = {str(name): ReleaseFormat.from_dict(str(name), value) for name, value in formats.items()}
        if not isinstance(data.get("order", 0), int):
            raise BenchmarkError(f"'order' must be an integer, but got {data['order']!r}.")
        if data.get("licence") is None:
            data.pop("licence", None)
        if data.get("data") is not None:
            data["data"] = GenericData.from_dict(data["data"], base_dir=path.resolve().parent)
        benchmark = Benchmark(**data)
        if benchmark.data is not None:
            benchmark.data.check_labels(benchmark)
    except BenchmarkError as err:
        raise BenchmarkError(f"Benchmark file {str(path)!r}: {err}") from None
    if not builtin:
        _check_custom_name(benchmark, f"Benchmark file {str(path)!r}", path="file")
    return benchmark


_BUILTIN_NAMES: list[str] = []


def _registry() -> Registry[Benchmark]:
    """The registry, with the built-in benchmarks read on first use (reading their YAML files at import would add to
    every command's `--help`)."""
    if not _BUILTIN_NAMES:
        for builtin in _builtin_definitions():
            _REGISTRY.register(builtin.name, builtin, overwrite=True)
            _BUILTIN_NAMES.append(builtin.name)
    return _REGISTRY


def builtin_benchmarks() -> tuple[str, ...]:
    """The built-in benchmarks' names, in their listing order. A custom benchmark may never take one: results,
    configs and cards are named after the benchmark."""
    _registry()
    return tuple(_BUILTIN_NAMES)
