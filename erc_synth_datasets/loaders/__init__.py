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

One module per release format (`meld`, `emorynlp`, `tsv`, `dagerc`) and the generic format (`generic`). Which files
each benchmark's release formats have, and which reader reads them, is part of the benchmark's definition (the
`formats:` section of its `benchmark.yaml`); this module holds the readers by name and loads a folder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..benchmarks import Benchmark, BenchmarkError, get_benchmark
from ..registry import Registry
from ..schema import dialogue_features, empty_provenance
from ..vocabulary import SPLITS
from .base import DataFileError, LoadReport, Reader
from .dagerc import _read_dagerc_json
from .emorynlp import _read_emorynlp_json
from .generic import GenericData, data_files, read_generic
from .meld import _read_meld_csv
from .tsv import _read_tsv

__all__ = [
    "READERS",
    "SPLITS",
    "DataFileError",
    "LoadReport",
    "available_formats",
    "benchmark_files",
    "load_benchmark",
    "read_benchmark",
]

logger = logging.getLogger(__name__)


#: Reader name (`reader:` of a release format in a benchmark's `formats:` section) -> the function reading one file.
READERS: Registry[Reader] = Registry(
    "reader",
    {
        "meld_csv": _read_meld_csv,
        "emorynlp_json": _read_emorynlp_json,
        "tsv": _read_tsv,
        "dagerc_json": _read_dagerc_json,
    },
    error=DataFileError,
    hint="Name one of them as `reader:` in the benchmark file's `formats:` section.",
    lazy=False,
)


def available_formats(benchmark: str | Benchmark) -> dict[str, dict[str, str]]:
    """For each release format of `benchmark` (its definition's `formats:`), the file name it reads per split."""
    benchmark = get_benchmark(benchmark)
    if not benchmark.formats:
        raise BenchmarkError(
            f"Benchmark {benchmark.name!r} has no release formats (no `formats:` section in its definition); it is "
            "read in the generic format."
        )
    return {fmt: dict(release.files) for fmt, release in benchmark.formats.items()}


def _reader(benchmark: Benchmark, fmt: str) -> Reader:
    try:
        return READERS.get(benchmark.formats[fmt].reader)
    except DataFileError as err:
        where = benchmark.files.definition if benchmark.files else benchmark.name
        raise DataFileError(f"{where}: formats.{fmt}: {err}") from None


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


def _reads_generic(benchmark: Benchmark, format: str, data: Any) -> bool:
    """Whether a load reads the generic format (asked for, a `data:` layout given, or a custom benchmark)."""
    if format == "generic" or data is not None or not benchmark.formats:
        if format not in ("auto", "generic"):
            raise DataFileError(
                f"Unknown format {format!r} for {benchmark.display_name}; a custom benchmark is read in the generic "
                "format: use format 'auto' or 'generic'."
            )
        return True
    return False


def _release_files(
    benchmark: Benchmark, data_dir: str | Path | None, format: str, splits: tuple[str, ...]
) -> dict[str, tuple[str, Path]]:
    """Per split, the release format and the file a load reads; raises `DataFileError` before any file is read."""
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
    files: dict[str, tuple[str, Path]] = {}
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}; splits are {SPLITS}.")
        candidates = list(formats) if format == "auto" else [format]
        found = [(fmt, _find_file(data_dir, formats[fmt][split])) for fmt in candidates]
        found = [(fmt, path) for fmt, path in found if path is not None]
        if not found:
            expected = ", ".join(f"{formats[fmt][split]} ({fmt})" for fmt in candidates)
            raise DataFileError(f"No {split} file for {benchmark.display_name} under {data_dir}; expected {expected}.")
        files[split] = found[0]
    return files


def benchmark_files(
    benchmark: str | Benchmark,
    data_dir: str | Path | None = None,
    *,
    format: str = "auto",
    splits: tuple[str, ...] = SPLITS,
    data: Any = None,
) -> dict[str, list[Path]]:
    """The files `read_benchmark` would read, per split (`"*"`: one generic file list with a split column), found
    without reading any: a command that reads the real data only after a long job checks its folder first.

    Arguments as `read_benchmark`'s.

    Raises:
        DataFileError: no folder, a folder that does not exist, or a split with no file (as the load itself says).
    """
    benchmark = get_benchmark(benchmark)
    if _reads_generic(benchmark, format, data):
        layout = GenericData.from_dict(data) if isinstance(data, Mapping) else data
        return data_files(benchmark, data_dir, data=layout, splits=splits)
    return {split: [path] for split, (_, path) in _release_files(benchmark, data_dir, format, splits).items()}


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
        format: `auto`, `generic` (erc_synth_datasets.loaders.generic), or one of the benchmark's release formats
            (see the module docstring). Custom benchmarks are always read in the generic format.
        splits: Which of train/validation/test to read.
        data: The generic format's file layout (a `GenericData` or a mapping in the YAML's `data:` layout), for
            reading a built-in benchmark from converted files.
    """
    benchmark = get_benchmark(benchmark)
    if _reads_generic(benchmark, format, data):
        rows, report = read_generic(benchmark, data_dir, data=data, splits=splits)
        return rows, report
    report = LoadReport(benchmark=benchmark.name)
    rows: dict[str, list[dict[str, Any]]] = {}
    for split, (fmt, path) in _release_files(benchmark, data_dir, format, splits).items():
        reader = _reader(benchmark, fmt)
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
