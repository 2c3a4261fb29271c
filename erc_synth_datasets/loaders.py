"""Loaders for the real benchmark files, into the dialogue schema, as a `DatasetDict` (train/validation/test).

Supported files (the user points at a folder; files are found in it or in its subfolders, the shallowest match wins):

| benchmark | format | files |
|---|---|---|
| meld | `csv` (official) | `{train,dev,test}_sent_emo.csv` |
| meld | `tsv` | `MELD_{train,dev,test}.txt` (speaker, utterance, emotion, sentiment; a header line) |
| emorynlp | `json` (official) | `emotion-detection-{trn,dev,tst}.json` |
| emorynlp | `tsv` | `EMORY_{train,dev,test}.txt` (speaker, utterance, emotion) |
| iemocap | `tsv` (6-way) | `iemocap_{train,dev,test}.txt` (speaker M/F, utterance, label) |
| iemocap | `json` (DAG-ERC) | `{train,dev,test}_data.json` (a list of dialogues of `{text, speaker, label?}`) |

With `format="auto"` each split uses the first format of the table's order whose file exists (EmoryNLP's official
release has no public train JSON, so its train split usually comes from the TSV file). Nothing is dropped silently:
every skipped utterance or dialogue is counted in the `LoadReport`, logged, and malformed files raise `DataFileError`
naming the file and line.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .benchmarks import Benchmark, BenchmarkError, get_benchmark
from .schema import dialogue_features, empty_provenance

__all__ = ["SPLITS", "DataFileError", "LoadReport", "available_formats", "load_benchmark", "read_benchmark"]

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


class DataFileError(ValueError):
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


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise DataFileError(f"{path}:{line}: not valid UTF-8 ({err.reason} at byte {err.start}).") from None


def _read_tsv(path: Path, benchmark: Benchmark, split: str, report: LoadReport) -> list[_Dialogue]:
    """Tab-separated, one utterance a line, a blank line between dialogues, optional header line."""
    dialogues: list[_Dialogue] = []
    current: _Dialogue | None = None
    columns: dict[str, int] | None = None
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            current = None
            continue
        fields = line.split("\t")
        lowered = [f.strip().lower() for f in fields]
        if columns is None and not dialogues and current is None and lowered[0] == "speaker":
            if "utterance" not in lowered or not ({"emotion", "label"} & set(lowered)):
                raise DataFileError(
                    f"{path}:{lineno}: a header must name Speaker, Utterance and Emotion columns, but got {fields}."
                )
            label_name = "emotion" if "emotion" in lowered else "label"
            columns = {"speaker": 0, "utterance": lowered.index("utterance"), "label": lowered.index(label_name)}
            continue
        if len(fields) < 3:
            raise DataFileError(
                f"{path}:{lineno}: expected speaker<TAB>utterance<TAB>emotion (tab-separated), "
                f"but got {len(fields)} field(s)."
            )
        where = f"{path}:{lineno}"
        if columns is not None:
            if len(fields) <= max(columns.values()):
                raise DataFileError(
                    f"{where}: expected {len(lowered)} tab-separated fields as in the header, but got {len(fields)}."
                )
            speaker, utterance, label = (fields[columns[c]] for c in ("speaker", "utterance", "label"))
        else:
            # Headerless files put the label last; a tab inside an utterance is joined back with a space.
            speaker, utterance, label = fields[0], " ".join(fields[1:-1]), fields[-1]
        label = _check_label(label, benchmark, where)
        speaker = benchmark.canonical_speaker(speaker)
        if not speaker:
            raise DataFileError(f"{where}: the speaker field is empty.")
        if not utterance.strip():
            raise DataFileError(f"{where}: the utterance field is empty.")
        if current is None:
            current = _Dialogue(f"{benchmark.name}-{split}-{len(dialogues)}")
            dialogues.append(current)
        current.add(speaker, utterance.strip(), label)
    return dialogues


_MELD_COLUMNS = ("Utterance", "Speaker", "Emotion", "Dialogue_ID", "Utterance_ID")


def _read_meld_csv(path: Path, benchmark: Benchmark, split: str, report: LoadReport) -> list[_Dialogue]:
    """The official MELD `*_sent_emo.csv`: one row per utterance, rows in utterance order, grouped by Dialogue_ID."""
    text = _read_text(path)
    reader = csv.DictReader(text.splitlines(keepends=True))
    missing = [c for c in _MELD_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DataFileError(
            f"{path}:1: the header lacks the MELD columns {missing}; expected at least {list(_MELD_COLUMNS)}, "
            f"but got {reader.fieldnames}."
        )
    by_id: dict[int, _Dialogue] = {}
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if None in row or any(row[c] is None for c in _MELD_COLUMNS):
            raise DataFileError(f"{where}: expected {len(reader.fieldnames)} comma-separated fields as in the header.")
        try:
            dialogue_id = int(row["Dialogue_ID"])
        except ValueError:
            raise DataFileError(f"{where}: Dialogue_ID must be an integer, but got {row['Dialogue_ID']!r}.") from None
        label = _check_label(row["Emotion"], benchmark, where)
        speaker, utterance = row["Speaker"].strip(), row["Utterance"].strip()
        if not speaker or not utterance:
            raise DataFileError(f"{where}: the {'Speaker' if not speaker else 'Utterance'} field is empty.")
        if dialogue_id not in by_id:
            by_id[dialogue_id] = _Dialogue(f"{benchmark.name}-{split}-{dialogue_id}")
        by_id[dialogue_id].add(benchmark.canonical_speaker(speaker), utterance, label)
    return list(by_id.values())


def _load_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise DataFileError(f"{path}:{err.lineno}: not valid JSON ({err.msg}, column {err.colno}).") from None


def _expect(value: Any, kind: type, where: str, what: str) -> Any:
    if not isinstance(value, kind):
        raise DataFileError(f"{where}: expected {what}, but got {type(value).__name__}.")
    return value


def _read_emorynlp_json(path: Path, benchmark: Benchmark, split: str, report: LoadReport) -> list[_Dialogue]:
    """The official EmoryNLP JSON: episodes -> scenes -> utterances with `speakers`, `transcript`, `emotion`."""
    data = _expect(_load_json(path), dict, str(path), "an object with 'episodes'")
    dialogues = []
    for e, episode in enumerate(_expect(data.get("episodes"), list, f"{path}: episodes", "a list")):
        for s, scene in enumerate(_expect(episode.get("scenes"), list, f"{path}: episodes[{e}].scenes", "a list")):
            where = f"{path}: episodes[{e}].scenes[{s}]"
            dialogue = _Dialogue(str(scene.get("scene_id") or f"{benchmark.name}-{split}-{len(dialogues)}"))
            for u, utt in enumerate(_expect(scene.get("utterances"), list, f"{where}.utterances", "a list")):
                at = f"{where}.utterances[{u}]"
                _expect(utt, dict, at, "an object")
                label = _check_label(str(utt.get("emotion", "")), benchmark, at)
                speakers = utt.get("speakers") or []
                transcript = str(utt.get("transcript") or "").strip()
                if not speakers or not transcript:
                    raise DataFileError(f"{at}: expected non-empty 'speakers' and 'transcript'.")
                if len(speakers) > 1:
                    report.note(split, "utterances with several speakers: kept the first speaker")
                dialogue.add(benchmark.canonical_speaker(str(speakers[0])), transcript, label)
            if dialogue.utterances:
                dialogues.append(dialogue)
            else:
                report.skip(split, "scenes without utterances")
    return dialogues


def _read_dagerc_json(path: Path, benchmark: Benchmark, split: str, report: LoadReport) -> list[_Dialogue]:
    """DAG-ERC's IEMOCAP JSON: dialogues of `{text, speaker: <dialogue id>_<M|F>, label?}`; unlabelled ones skipped."""
    data = _expect(_load_json(path), list, str(path), "a list of dialogues")
    dialogues = []
    for d, items in enumerate(data):
        where = f"{path}: [{d}]"
        dialogue: _Dialogue | None = None
        for u, utt in enumerate(_expect(items, list, where, "a list of utterances")):
            at = f"{where}[{u}]"
            _expect(utt, dict, at, "an object with 'text' and 'speaker'")
            raw_speaker, text = str(utt.get("speaker") or ""), str(utt.get("text") or "").strip()
            if "_" not in raw_speaker:
                raise DataFileError(f"{at}: expected a 'speaker' like '<dialogue id>_<M|F>', but got {raw_speaker!r}.")
            dialogue_id, speaker = raw_speaker.rsplit("_", 1)
            if dialogue is None:
                dialogue = _Dialogue(dialogue_id)
            if utt.get("label") is None:
                report.skip(split, "utterances without a 6-way label")
                continue
            if not text:
                raise DataFileError(f"{at}: a labelled utterance has an empty 'text'.")
            dialogue.add(benchmark.canonical_speaker(speaker), text, _check_label(str(utt["label"]), benchmark, at))
        if dialogue is not None and dialogue.utterances:
            dialogues.append(dialogue)
        else:
            report.skip(split, "dialogues without any labelled utterance")
    return dialogues


# benchmark -> format -> (reader, split -> file name); formats in preference order for format="auto".
_FORMATS: dict[str, dict[str, tuple[Reader, dict[str, str]]]] = {
    "meld": {
        "csv": (
            _read_meld_csv,
            {"train": "train_sent_emo.csv", "validation": "dev_sent_emo.csv", "test": "test_sent_emo.csv"},
        ),
        "tsv": (_read_tsv, {"train": "MELD_train.txt", "validation": "MELD_dev.txt", "test": "MELD_test.txt"}),
    },
    "emorynlp": {
        "json": (
            _read_emorynlp_json,
            {
                "train": "emotion-detection-trn.json",
                "validation": "emotion-detection-dev.json",
                "test": "emotion-detection-tst.json",
            },
        ),
        "tsv": (_read_tsv, {"train": "EMORY_train.txt", "validation": "EMORY_dev.txt", "test": "EMORY_test.txt"}),
    },
    "iemocap": {
        "tsv": (
            _read_tsv,
            {"train": "iemocap_train.txt", "validation": "iemocap_dev.txt", "test": "iemocap_test.txt"},
        ),
        "json": (
            _read_dagerc_json,
            {"train": "train_data.json", "validation": "dev_data.json", "test": "test_data.json"},
        ),
    },
}


def available_formats(benchmark: str | Benchmark) -> dict[str, dict[str, str]]:
    """For each supported format of `benchmark`, the file name it reads per split."""
    benchmark = get_benchmark(benchmark)
    if benchmark.name not in _FORMATS:
        raise BenchmarkError(
            f"There is no loader for benchmark {benchmark.name!r}; loaders exist for: {', '.join(_FORMATS)}."
        )
    return {fmt: dict(files) for fmt, (_, files) in _FORMATS[benchmark.name].items()}


def _find_file(data_dir: Path, name: str) -> Path | None:
    direct = data_dir / name
    if direct.is_file():
        return direct
    matches = sorted(p for p in data_dir.rglob(name) if p.is_file())
    if not matches:
        return None
    depth = min(len(p.relative_to(data_dir).parts) for p in matches)
    shallowest = [p for p in matches if len(p.relative_to(data_dir).parts) == depth]
    if len(shallowest) > 1:
        raise DataFileError(
            f"Found several files named {name!r} at the same depth under {data_dir}: "
            f"{[str(p) for p in shallowest]}; point --data-dir at the folder that holds the one you mean."
        )
    return shallowest[0]


def read_benchmark(
    benchmark: str | Benchmark, data_dir: str | Path, *, format: str = "auto", splits: tuple[str, ...] = SPLITS
) -> tuple[dict[str, list[dict[str, Any]]], LoadReport]:
    """Reads a benchmark folder into plain rows of the dialogue schema (label names, not ids), with a report.

    Args:
        benchmark: `meld`, `emorynlp` or `iemocap` (or a `Benchmark`).
        data_dir: Folder holding the benchmark's files (in it or in subfolders).
        format: `auto`, or one of the benchmark's formats (see the module docstring).
        splits: Which of train/validation/test to read.
    """
    benchmark = get_benchmark(benchmark)
    formats = available_formats(benchmark)
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataFileError(f"The data folder {str(data_dir)!r} does not exist or is not a folder.")
    if format != "auto" and format not in formats:
        raise DataFileError(
            f"Unknown format {format!r} for {benchmark.display_name}; available: auto, {', '.join(formats)}."
        )
    report = LoadReport(benchmark=benchmark.name)
    rows: dict[str, list[dict[str, Any]]] = {}
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}; splits are {SPLITS}.")
        candidates = list(formats) if format == "auto" else [format]
        found = [(fmt, _find_file(data_dir, formats[fmt][split])) for fmt in candidates]
        found = [(fmt, path) for fmt, path in found if path is not None]
        if not found:
            expected = ", ".join(f"{formats[fmt][split]} ({fmt})" for fmt in candidates)
            raise DataFileError(f"No {split} file for {benchmark.display_name} under {data_dir}; expected {expected}.")
        fmt, path = found[0]
        reader = _FORMATS[benchmark.name][fmt][0]
        dialogues = reader(path, benchmark, split, report)
        report.files[split], report.formats[split] = str(path), fmt
        rows[split] = [
            {
                "dialogue_id": d.dialogue_id,
                "speakers": d.speakers,
                "utterances": d.utterances,
                "emotions": d.emotions,
                **empty_provenance(),
            }
            for d in dialogues
        ]
    for split, reasons in report.skipped.items():
        for reason, count in reasons.items():
            logger.warning("%s %s: skipped %d %s", benchmark.display_name, split, count, reason)
    return rows, report


def load_benchmark(
    benchmark: str | Benchmark,
    data_dir: str | Path,
    *,
    format: str = "auto",
    splits: tuple[str, ...] = SPLITS,
    return_report: bool = False,
):
    """Loads a real benchmark as a `DatasetDict` with `train`, `validation` and `test` in the dialogue schema.

    Args:
        benchmark: `meld`, `emorynlp` or `iemocap`.
        data_dir: Folder with the benchmark's files (e.g. `../shared/data/meld`).
        format: `auto` (default) or a format name (see the module docstring).
        splits: Splits to load.
        return_report: Also return the `LoadReport` (files used, counts of anything skipped).

    Returns:
        `DatasetDict`, or `(DatasetDict, LoadReport)` when `return_report` is True.

    Example:
        >>> ds = load_benchmark("meld", "../shared/data/meld")  # doctest: +SKIP
        >>> ds["train"].features["emotions"].feature.names  # doctest: +SKIP
        ['neutral', 'surprise', 'fear', 'sadness', 'joy', 'disgust', 'anger']
    """
    from datasets import Dataset, DatasetDict

    benchmark = get_benchmark(benchmark)
    rows, report = read_benchmark(benchmark, data_dir, format=format, splits=splits)
    features = dialogue_features(benchmark)
    dataset = DatasetDict({split: Dataset.from_list(rows[split], features=features) for split in splits})
    return (dataset, report) if return_report else dataset
