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
naming the file and line (or the JSON path) and what was expected. Every text file is read as UTF-8 with an optional
byte-order mark. Files without any utterance, rows with missing or extra fields, unclosed quotes, speakers outside a
closed speaker set, and repeated identifiers (a MELD `Dialogue_ID`/`Utterance_ID` pair, an EmoryNLP `scene_id`, a
DAG-ERC dialogue) are refused rather than loaded with changed counts.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .benchmarks import Benchmark, BenchmarkError, get_benchmark
from .errors import ErcSynthError
from .files import parse_json, read_text_file
from .schema import dialogue_features, empty_provenance
from .vocabulary import SPLITS

__all__ = ["SPLITS", "DataFileError", "LoadReport", "available_formats", "load_benchmark", "read_benchmark"]

logger = logging.getLogger(__name__)


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


def _read_tsv(path: Path, benchmark: Benchmark, split: str, report: LoadReport) -> list[_Dialogue]:
    """Tab-separated, one utterance a line, a blank line between dialogues, optional header line."""
    dialogues: list[_Dialogue] = []
    current: _Dialogue | None = None
    columns: dict[str, int] | None = None
    header_size = 0
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
            header_size = len(fields)
            continue
        where = f"{path}:{lineno}"
        if columns is not None:
            if len(fields) != header_size:
                raise DataFileError(
                    f"{where}: expected {header_size} tab-separated fields as in the header, but got {len(fields)}."
                )
            speaker, utterance, label = (fields[columns[c]] for c in ("speaker", "utterance", "label"))
        else:
            if len(fields) != 3:
                raise DataFileError(
                    f"{where}: expected speaker<TAB>utterance<TAB>emotion (3 tab-separated fields), "
                    f"but got {len(fields)} field(s)."
                )
            speaker, utterance, label = fields
        label = _check_label(label, benchmark, where)
        speaker = _check_speaker(speaker, benchmark, where)
        if not utterance.strip():
            raise DataFileError(f"{where}: the utterance field is empty.")
        if current is None:
            current = _Dialogue(f"{benchmark.name}-{split}-{len(dialogues)}")
            dialogues.append(current)
        current.add(speaker, utterance.strip(), label)
    return _check_not_empty(dialogues, path, "speaker<TAB>utterance<TAB>emotion lines")


_MELD_COLUMNS = ("Utterance", "Speaker", "Emotion", "Dialogue_ID", "Utterance_ID")


def _csv_rows(reader: csv.DictReader, path: Path) -> Iterator[tuple[int, Any]]:
    """The header (line 1), then each row with the line it starts on; CSV errors become `DataFileError`s there."""
    start = 1
    try:
        yield start, reader.fieldnames
        while True:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                return
            yield start, row
    except csv.Error as err:
        raise DataFileError(
            f"{path}:{start}: not valid CSV ({err}) in the row that starts on this line; a quoted field may be "
            "unclosed or the row cut off."
        ) from None


def _read_meld_csv(path: Path, benchmark: Benchmark, split: str, report: LoadReport) -> list[_Dialogue]:
    """The official MELD `*_sent_emo.csv`: one row per utterance, rows in utterance order, grouped by Dialogue_ID."""
    text = _read_text(path)
    reader = csv.DictReader(text.splitlines(keepends=True), strict=True)
    rows = _csv_rows(reader, path)
    fieldnames = next(rows)[1]
    missing = [c for c in _MELD_COLUMNS if c not in (fieldnames or [])]
    if missing:
        raise DataFileError(
            f"{path}:1: the header lacks the MELD columns {missing}; expected at least {list(_MELD_COLUMNS)}, "
            f"but got {fieldnames}."
        )
    by_id: dict[int, _Dialogue] = {}
    first_line: dict[tuple[str, str], int] = {}
    for lineno, row in rows:
        where = f"{path}:{lineno}"
        if None in row or any(value is None for value in row.values()):
            extra = row.pop(None, None) or []
            got = sum(value is not None for value in row.values()) + len(extra)
            raise DataFileError(
                f"{where}: expected {len(row)} comma-separated fields as in the header, but got {got} "
                "(a row cut off, or a comma outside quotes)."
            )
        try:
            dialogue_id = int(row["Dialogue_ID"])
        except ValueError:
            raise DataFileError(f"{where}: Dialogue_ID must be an integer, but got {row['Dialogue_ID']!r}.") from None
        key = (row["Dialogue_ID"].strip(), row["Utterance_ID"].strip())
        if key in first_line:
            raise DataFileError(
                f"{where}: Dialogue_ID {key[0]} Utterance_ID {key[1]} repeats line {first_line[key]}; "
                "expected each utterance once."
            )
        first_line[key] = lineno
        label = _check_label(row["Emotion"], benchmark, where)
        speaker, utterance = row["Speaker"].strip(), row["Utterance"].strip()
        if not speaker or not utterance:
            raise DataFileError(f"{where}: the {'Speaker' if not speaker else 'Utterance'} field is empty.")
        if dialogue_id not in by_id:
            by_id[dialogue_id] = _Dialogue(f"{benchmark.name}-{split}-{dialogue_id}")
        by_id[dialogue_id].add(_check_speaker(speaker, benchmark, where), utterance, label)
    return _check_not_empty(list(by_id.values()), path, f"rows with the columns {list(_MELD_COLUMNS)}")


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


def _read_emorynlp_json(path: Path, benchmark: Benchmark, split: str, report: LoadReport) -> list[_Dialogue]:
    """The official EmoryNLP JSON: episodes -> scenes -> utterances with `speakers`, `transcript`, `emotion`."""
    data = _expect(_load_json(path), dict, str(path), "an object with 'episodes'")
    dialogues = []
    scene_ids: dict[str, str] = {}
    for e, episode in enumerate(_expect(data.get("episodes"), list, f"{path}: episodes", "a list")):
        _expect(episode, dict, f"{path}: episodes[{e}]", "an object with 'scenes'")
        for s, scene in enumerate(_expect(episode.get("scenes"), list, f"{path}: episodes[{e}].scenes", "a list")):
            where = f"{path}: episodes[{e}].scenes[{s}]"
            _expect(scene, dict, where, "an object with 'scene_id' and 'utterances'")
            scene_id = scene.get("scene_id")
            if scene_id is None:
                scene_id = f"{benchmark.name}-{split}-{len(dialogues)}"
            scene_id = _string(scene_id, f"{where}.scene_id", "a string")
            _check_unique(scene_ids, scene_id, where, "scene_id")
            dialogue = _Dialogue(scene_id)
            for u, utt in enumerate(_expect(scene.get("utterances"), list, f"{where}.utterances", "a list")):
                at = f"{where}.utterances[{u}]"
                _expect(utt, dict, at, "an object with 'speakers', 'transcript' and 'emotion'")
                label = _check_label(_string(utt.get("emotion"), f"{at}.emotion", "a label string"), benchmark, at)
                speakers = _expect(utt.get("speakers"), list, f"{at}.speakers", "a list of speaker names")
                transcript = _string(utt.get("transcript"), f"{at}.transcript", "a string").strip()
                if not speakers or not transcript:
                    raise DataFileError(f"{at}: expected non-empty 'speakers' and 'transcript'.")
                for k, speaker in enumerate(speakers):
                    _string(speaker, f"{at}.speakers[{k}]", "a speaker name")
                if len(speakers) > 1:
                    report.note(split, "utterances with several speakers: kept the first speaker")
                dialogue.add(_check_speaker(speakers[0], benchmark, f"{at}.speakers[0]"), transcript, label)
            if dialogue.utterances:
                dialogues.append(dialogue)
            else:
                report.skip(split, "scenes without utterances")
    return _check_not_empty(dialogues, path, "episodes with scenes of utterances")


def _read_dagerc_json(path: Path, benchmark: Benchmark, split: str, report: LoadReport) -> list[_Dialogue]:
    """DAG-ERC's IEMOCAP JSON: dialogues of `{text, speaker: <dialogue id>_<M|F>, label?}`; unlabelled ones skipped."""
    data = _expect(_load_json(path), list, str(path), "a list of dialogues")
    dialogues = []
    dialogue_ids: dict[str, str] = {}
    for d, items in enumerate(data):
        where = f"{path}: [{d}]"
        dialogue: _Dialogue | None = None
        for u, utt in enumerate(_expect(items, list, where, "a list of utterances")):
            at = f"{where}[{u}]"
            _expect(utt, dict, at, "an object with 'text' and 'speaker'")
            raw_speaker = _string(utt.get("speaker"), f"{at}.speaker", "a string like '<dialogue id>_<M|F>'")
            text = _string(utt.get("text", ""), f"{at}.text", "a string").strip()
            if "_" not in raw_speaker:
                raise DataFileError(f"{at}: expected a 'speaker' like '<dialogue id>_<M|F>', but got {raw_speaker!r}.")
            dialogue_id, speaker = raw_speaker.rsplit("_", 1)
            if dialogue is None:
                _check_unique(dialogue_ids, dialogue_id, where, "dialogue")
                dialogue = _Dialogue(dialogue_id)
            elif dialogue_id != dialogue.dialogue_id:
                raise DataFileError(
                    f"{at}: speaker {raw_speaker!r} names dialogue {dialogue_id!r}, but this dialogue is "
                    f"{dialogue.dialogue_id!r}; expected every utterance of a dialogue to name the same one."
                )
            speaker = _check_speaker(speaker, benchmark, f"{at}.speaker")
            if utt.get("label") is None:
                report.skip(split, "utterances without a 6-way label")
                continue
            if not text:
                raise DataFileError(f"{at}: a labelled utterance has an empty 'text'.")
            label = utt["label"]
            if isinstance(label, bool) or not isinstance(label, (str, int)):
                raise DataFileError(f"{at}.label: expected a label, but got {type(label).__name__}.")
            dialogue.add(speaker, text, _check_label(str(label), benchmark, at))
        if dialogue is not None and dialogue.utterances:
            dialogues.append(dialogue)
        else:
            report.skip(split, "dialogues without any labelled utterance")
    return _check_not_empty(dialogues, path, "a list of dialogues with labelled utterances")


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
    try:
        direct = data_dir / name
        if direct.is_file():
            return direct
        matches = sorted(p for p in data_dir.rglob(name) if p.is_file())
    except OSError as err:
        where = f" (at {str(err.filename)!r})" if err.filename and str(err.filename) != str(data_dir) else ""
        reason = "permission denied" if isinstance(err, PermissionError) else err.strerror
        raise DataFileError(
            f"The data folder {str(data_dir)!r} cannot be read: {reason}{where}; check the permissions of the "
            "folder given as --data-dir and of its subfolders."
        ) from None
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
    benchmark: str | Benchmark,
    data_dir: str | Path | None = None,
    *,
    format: str = "auto",
    splits: tuple[str, ...] = SPLITS,
    data: Any = None,
) -> tuple[dict[str, list[dict[str, Any]]], LoadReport]:
    """Reads a benchmark folder into plain rows of the dialogue schema (label names, not ids), with a report.

    Args:
        benchmark: `meld`, `emorynlp` or `iemocap` (or a `Benchmark`), or a custom benchmark (YAML path or name).
        data_dir: Folder holding the benchmark's files (in it or in subfolders); optional for a custom benchmark
            whose YAML names its files.
        format: `auto`, `generic` (erc_synth_datasets.generic_format), or one of the benchmark's release formats
            (see the module docstring). Custom benchmarks are always read in the generic format.
        splits: Which of train/validation/test to read.
        data: The generic format's file layout (a `GenericData` or a mapping in the YAML's `data:` layout), for
            reading a built-in benchmark from converted files.
    """
    benchmark = get_benchmark(benchmark)
    if format == "generic" or data is not None or benchmark.name not in _FORMATS:
        from .generic_format import read_generic

        if format not in ("auto", "generic"):
            raise DataFileError(
                f"Unknown format {format!r} for {benchmark.display_name}; a custom benchmark is read in the generic "
                "format: use format 'auto' or 'generic'."
            )
        rows, report = read_generic(benchmark, data_dir, data=data, splits=splits)
        return rows, report
    if data_dir is None:
        raise DataFileError(f"Give the folder of the {benchmark.display_name} files (data_dir, --data-dir).")
    formats = available_formats(benchmark)
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataFileError(f"The data folder {str(data_dir)!r} does not exist or is not a folder.")
    if format != "auto" and format not in formats:
        raise DataFileError(
            f"Unknown format {format!r} for {benchmark.display_name}; available: auto, {', '.join(formats)}, generic."
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
    data_dir: str | Path | None = None,
    *,
    format: str = "auto",
    splits: tuple[str, ...] = SPLITS,
    return_report: bool = False,
    data: Any = None,
):
    """Loads a real benchmark as a `DatasetDict` with `train`, `validation` and `test` in the dialogue schema.

    Args:
        benchmark: `meld`, `emorynlp` or `iemocap`, or a custom benchmark (YAML path, or name once read).
        data_dir: Folder with the benchmark's files (e.g. `../shared/data/meld`); optional for a custom benchmark
            whose YAML names its files.
        format: `auto` (default), `generic` or a release format name (see the module docstring).
        splits: Splits to load.
        return_report: Also return the `LoadReport` (files used, counts of anything skipped).
        data: For `generic`: the file layout (a `GenericData` or a `data:` mapping); default: the benchmark's.

    Returns:
        `DatasetDict`, or `(DatasetDict, LoadReport)` when `return_report` is True.

    Example:
        >>> ds = load_benchmark("meld", "../shared/data/meld")  # doctest: +SKIP
        >>> ds["train"].features["emotions"].feature.names  # doctest: +SKIP
        ['neutral', 'surprise', 'fear', 'sadness', 'joy', 'disgust', 'anger']
    """
    from datasets import Dataset, DatasetDict

    benchmark = get_benchmark(benchmark)
    rows, report = read_benchmark(benchmark, data_dir, format=format, splits=splits, data=data)
    features = dialogue_features(benchmark)
    dataset = DatasetDict({split: Dataset.from_list(rows[split], features=features) for split in splits})
    return (dataset, report) if return_report else dataset
