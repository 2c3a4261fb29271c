"""The generic real-data format: any ERC benchmark as one row per utterance, in CSV, TSV, JSON Lines or Parquet.

Every row holds one utterance:

| role | default column | required | value |
|---|---|---|---|
| `dialogue_id` | `dialogue_id` | yes | text or integer; rows with the same id (in one split) form one dialogue |
| `turn` | `turn` | no | integer position in the dialogue; without the column, rows keep their file order |
| `speaker` | `speaker` | yes | text; `speaker_aliases` of the benchmark apply |
| `utterance` | `utterance` | yes | text |
| `emotion` | `emotion` | yes | a label name as the benchmark spells it, its id (canonical order), a `label_map` key |
| `split` | `split` | for one file of every split | `train`, `validation` (or `dev`, `valid`, `val`) or `test` |

File types, by extension (or `format:` for every file): `.csv` (comma-separated, RFC 4180 quoting, a header row),
`.tsv` (tab-separated, a header row, no quoting: one row a line, no tab inside a value), `.jsonl` / `.ndjson` (one
JSON object a line), `.parquet`. Text files are read as UTF-8 (a byte-order mark is allowed). Errors name the file
and line (`file.csv:12`), or the row for Parquet (`file.parquet: row 12`), and what was expected.

A custom benchmark's YAML describes its files in a `data:` section (read by `GenericData.from_dict`); a built-in
benchmark converted to this layout is read with `load_benchmark(name, folder, format="generic")`. Without a `data:`
section the files are `train.<ext>`, `validation.<ext>` and `test.<ext>` in the data folder, with the default column
names. The layout itself (`GenericData`) is part of a benchmark's definition, in `erc_synth_datasets.benchmarks`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..benchmarks import _REQUIRED_ROLES, FILE_TYPES, GENERIC_FORMAT, Benchmark, GenericData, _text_key
from ..files import parse_json, read_text_file
from ..schema import empty_provenance
from ..vocabulary import SPLITS
from .base import DataFileError, LoadReport

__all__ = ["GENERIC_FORMAT", "GenericData", "data_files", "iter_jsonl_objects", "read_generic"]


def _file_type(path: Path, data: GenericData) -> str:
    if data.format is not None:
        return data.format
    suffix = path.suffix.lower()
    for file_type, suffixes in FILE_TYPES.items():
        if suffix in suffixes:
            return file_type
    raise DataFileError(
        f"{path}: cannot tell the file type from the extension {suffix!r}; use one of "
        f"{[s for suffixes in FILE_TYPES.values() for s in suffixes]}, or set data.format in the benchmark YAML."
    )


def _expand(base: Path, pattern: str) -> list[Path]:
    path = Path(pattern).expanduser()
    if not path.is_absolute():
        path = base / path
    if not any(ch in pattern for ch in "*?["):
        return [path] if path.is_file() else []
    anchor = Path(path.anchor)
    return sorted(p for p in anchor.glob(str(path.relative_to(anchor))) if p.is_file())


def _base_dir(benchmark: Benchmark, data_dir: str | Path | None, data: GenericData) -> Path:
    if data_dir is not None:
        base = Path(data_dir)
        if not base.is_dir():
            raise DataFileError(f"The data folder {str(base)!r} does not exist or is not a folder.")
        return base
    if data.base_dir is not None:
        return data.base_dir
    raise DataFileError(
        f"No data folder for {benchmark.display_name}: give one (--data-dir, data_dir), or describe the files in "
        "a `data:` section of the benchmark YAML."
    )


def data_files(
    benchmark: Benchmark,
    data_dir: str | Path | None = None,
    *,
    data: GenericData | None = None,
    splits: tuple[str, ...] = SPLITS,
) -> dict[str, list[Path]]:
    """The files a generic-format load reads, per split (one shared list when a split column tells them apart).

    Raises:
        DataFileError: no data folder, or a pattern that matches no file.
    """
    data = data or benchmark.data or GenericData()
    base = _base_dir(benchmark, data_dir, data)
    wanted = {"*": data.files} if data.files else {split: data.split_files.get(split, ()) for split in splits}
    found: dict[str, list[Path]] = {}
    for split, patterns in wanted.items():
        if not patterns:
            raise DataFileError(
                f"{benchmark.display_name}: data.files names no file for the {split} split; expected an entry for "
                f"each of {list(splits)} (or one file with a split column)."
            )
        paths: list[Path] = []
        for pattern in patterns:
            matches = _expand(base, pattern)
            if data.uses_default_files:
                matches = [p for p in matches if p.suffix.lower() in {s for v in FILE_TYPES.values() for s in v}]
            if not matches:
                raise DataFileError(
                    f"No {'' if split == '*' else split + ' '}file for {benchmark.display_name} matches "
                    f"{pattern!r} under {base}; expected one row per utterance in CSV, TSV, JSON Lines or Parquet "
                    "(see docs/benchmarks.md)."
                )
            paths.extend(p for p in matches if p not in paths)
        if data.uses_default_files and len(paths) > 1:
            raise DataFileError(
                f"Several {split} files for {benchmark.display_name} under {base}: {[str(p) for p in paths]}; keep "
                "one, or name the files in the `data:` section of a benchmark YAML."
            )
        found[split] = paths
    return found


# ---------------------------------------------------------------------------------------------------------------
# Reading rows: each reader yields (where, record) with `where` naming the file and line (or Parquet row).

_HEADER = object()  # key of the record that carries a file's column names


def _read_text(path: Path) -> str:
    return read_text_file(path, what="Data file", error=DataFileError)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    # split("\n") rather than splitlines(): a U+2028 or form feed inside an utterance does not end a row.
    for lineno, line in enumerate(_read_text(path).split("\n"), start=1):
        line = line.removesuffix("\r")
        if line.strip():
            yield lineno, line


def _header_records(path: Path, rows: Iterator[tuple[int, list[str]]], kind: str) -> Iterator[tuple[str, dict]]:
    first = next(rows, None)
    if first is None:
        raise DataFileError(f"{path}:1: the file is empty; expected a {kind} header row naming the columns.")
    header_line, header = first
    header = [name.strip() for name in header]
    yield f"{path}:{header_line}", {_HEADER: header}
    for lineno, values in rows:
        if len(values) != len(header):
            raise DataFileError(
                f"{path}:{lineno}: expected {len(header)} {kind} fields as in the header (line {header_line}), "
                f"but got {len(values)}."
            )
        yield f"{path}:{lineno}", dict(zip(header, values, strict=True))


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Rows with the line they start on (a quoted value may span lines)."""
    # newline="": only \n, \r and \r\n end a line, as the csv module expects (not U+2028 inside a value).
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), strict=True)
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise DataFileError(
                f"{path}:{start}: not valid CSV ({err}; the row that starts on this line runs to line "
                f"{reader.line_num}: look for an unclosed quote)."
            ) from None
        if values and any(v.strip() for v in values):
            yield start, values


def _tsv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    for lineno, line in _lines(path):
        yield lineno, line.split("\t")


def iter_jsonl_objects(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a JSON Lines file (UTF-8, a byte-order mark allowed).

    Raises:
        DataFileError: the file cannot be read or is not UTF-8, or a line is not one JSON object (the message names
            the file and line).
    """
    path = Path(path)
    for lineno, line in _lines(path):
        record = parse_json(line, where=str(path), error=DataFileError, line_offset=lineno - 1)
        if not isinstance(record, dict):
            raise DataFileError(
                f"{path}:{lineno}: expected one JSON object per line, but got {type(record).__name__}."
            )
        yield lineno, record


def _jsonl_records(path: Path) -> Iterator[tuple[str, dict]]:
    for lineno, record in iter_jsonl_objects(path):
        yield f"{path}:{lineno}", record


def _parquet_records(path: Path) -> Iterator[tuple[str, dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise DataFileError(f"{path}: not a readable Parquet file ({err}).") from None
    yield f"{path}: schema", {_HEADER: table.column_names}
    for index, record in enumerate(table.to_pylist(), start=1):
        yield f"{path}: row {index}", record


def _records(path: Path, file_type: str) -> Iterator[tuple[str, dict]]:
    """(where, record) for every row; files with a header or schema yield `{_HEADER: column names}` first."""
    if file_type == "csv":
        yield from _header_records(path, _csv_rows(path), "comma-separated")
    elif file_type == "tsv":
        yield from _header_records(path, _tsv_rows(path), "tab-separated")
    elif file_type == "jsonl":
        yield from _jsonl_records(path)
    else:
        yield from _parquet_records(path)


# ---------------------------------------------------------------------------------------------------------------
# Checking cells and grouping rows into dialogues.


def _text(value: Any, where: str, column: str, *, allow_int: bool = False) -> str:
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        kind = "text or an integer" if allow_int else "text"
        raise DataFileError(f"{where}: column {column!r} must hold {kind}, but got {value!r}.")
    if not value.strip():
        raise DataFileError(f"{where}: column {column!r} is empty.")
    return value.strip()


def _integer(value: Any, where: str, column: str) -> int:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool):
        raise DataFileError(f"{where}: column {column!r} must hold an integer turn index, but got {value!r}.")
    return value


class _LabelReader:
    """Turns an emotion cell into the benchmark's label name: `label_map` first, then a label name, then an id."""

    def __init__(self, benchmark: Benchmark, data: GenericData) -> None:
        self.benchmark, self.label_map = benchmark, data.label_map
        # A map that names ids owns the ids: an unmapped id is an error, never read in canonical order.
        self.ids_through_map = any(key.lstrip("-").isdigit() for key in data.label_map)

    def __call__(self, value: Any, where: str, column: str) -> str:
        if value is None or isinstance(value, bool) or isinstance(value, (list, dict)):
            raise DataFileError(f"{where}: column {column!r} must hold a label name or id, but got {value!r}.")
        key = _text_key(value)
        if key in self.label_map:
            return self.label_map[key]
        if key in self.benchmark.label2id:
            return key
        if key.isdigit() and not self.ids_through_map and int(key) < self.benchmark.num_labels:
            return self.benchmark.labels[int(key)]
        ids = f"ids 0-{self.benchmark.num_labels - 1} in that order, " if not self.ids_through_map else ""
        mapped = f"or a key of data.label_map {sorted(self.label_map)}" if self.label_map else "or add data.label_map"
        raise DataFileError(
            f"{where}: unknown {self.benchmark.display_name} label {value!r} in column {column!r}; expected one of "
            f"{list(self.benchmark.labels)}, {ids}{mapped}."
        )


@dataclass
class _Row:
    turn: int | None
    where: str
    speaker: str
    utterance: str
    emotion: str


class _Collector:
    """Checks each record and groups the rows into dialogues, per split, in order of first appearance."""

    def __init__(self, benchmark: Benchmark, data: GenericData) -> None:
        self.benchmark, self.data = benchmark, data
        self.label = _LabelReader(benchmark, data)
        self.dialogues: dict[str, dict[str, list[_Row]]] = {split: {} for split in SPLITS}

    def _missing(self, names: list[str] | dict, split_column: bool) -> tuple[list[str], list[str]]:
        roles = [
            *_REQUIRED_ROLES,
            *(["split"] if split_column else []),
            *(["turn"] if "turn" in self.data.columns else []),
        ]
        expected = [self.data.column(role) for role in roles]
        return [name for name in expected if name not in names], expected

    def _required(self, where: str, names: list[str], split_column: bool) -> None:
        missing, expected = self._missing(names, split_column)
        if missing:
            raise DataFileError(
                f"{where}: the header lacks the columns {missing}; expected {expected} (set data.columns in the "
                f"benchmark YAML to rename them), but got {names}."
            )

    def _required_keys(self, where: str, record: dict, split_column: bool) -> None:
        missing, expected = self._missing(record, split_column)
        if missing:
            raise DataFileError(
                f"{where}: the object lacks the keys {missing}; expected {expected} (set data.columns in the "
                f"benchmark YAML to rename them), but got {sorted(record)}."
            )

    def read_file(self, path: Path, split: str | None) -> int:
        """Reads one file into `self.dialogues`; `split` None reads each row's split from the split column."""
        file_type = _file_type(path, self.data)
        names: list[str] | None = None
        has_turn = False
        count = 0
        for where, record in _records(path, file_type):
            if _HEADER in record:
                names = list(record[_HEADER])
                self._required(where, names, split is None)
                has_turn = self.data.column("turn") in names
                continue
            if names is None:  # JSON Lines: every object must carry the columns
                self._required_keys(where, record, split is None)
                if count == 0:
                    has_turn = self.data.column("turn") in record or "turn" in self.data.columns
            self._add(where, record, split, has_turn)
            count += 1
        if count == 0:
            raise DataFileError(f"{path}: holds no rows; expected one row per utterance.")
        return count

    def _add(self, where: str, record: dict, split: str | None, has_turn: bool) -> None:
        c = self.data.column
        if split is None:
            value = record.get(c("split"))
            split = self.data.split_of(value) if value is not None else None
            if split is None:
                raise DataFileError(
                    f"{where}: column {c('split')!r} must name a split (train, validation, dev or test; add others "
                    f"with data.split_values), but got {value!r}."
                )
        dialogue_id = _text(record.get(c("dialogue_id")), where, c("dialogue_id"), allow_int=True)
        turn = None
        if has_turn:
            if record.get(c("turn")) is None:
                raise DataFileError(f"{where}: column {c('turn')!r} is empty; every row of this file needs a turn.")
            turn = _integer(record[c("turn")], where, c("turn"))
        speaker = self.benchmark.canonical_speaker(_text(record.get(c("speaker")), where, c("speaker")))
        if not self.benchmark.is_allowed_speaker(speaker):
            aliases = (
                f" (or their spellings {sorted(self.benchmark.speaker_aliases)})"
                if self.benchmark.speaker_aliases
                else ""
            )
            raise DataFileError(
                f"{where}: speaker {speaker!r} is not one of {self.benchmark.display_name}'s speakers "
                f"{list(self.benchmark.speakers)}{aliases}; add it to `speakers` or `speaker_aliases` in the "
                "benchmark YAML, or set other_speakers: true."
            )
        utterance = _text(record.get(c("utterance")), where, c("utterance"))
        emotion = self.label(record.get(c("emotion")), where, c("emotion"))
        self.dialogues[split].setdefault(dialogue_id, []).append(_Row(turn, where, speaker, utterance, emotion))

    def rows(self, split: str) -> list[dict[str, Any]]:
        out = []
        for dialogue_id, rows in self.dialogues[split].items():
            if rows[0].turn is not None:
                rows = sorted(rows, key=lambda row: row.turn)  # stable: equal turns are refused below
                for before, after in zip(rows, rows[1:], strict=False):
                    if before.turn == after.turn:
                        raise DataFileError(
                            f"{after.where}: dialogue {dialogue_id!r} has turn {after.turn} twice (also at "
                            f"{before.where}); each turn index may appear once per dialogue."
                        )
            out.append(
                {
                    "dialogue_id": dialogue_id,
                    "speakers": [row.speaker for row in rows],
                    "utterances": [row.utterance for row in rows],
                    "emotions": [row.emotion for row in rows],
                    **empty_provenance(),
                }
            )
        return out


def read_generic(
    benchmark: Benchmark,
    data_dir: str | Path | None = None,
    *,
    data: GenericData | Mapping[str, Any] | None = None,
    splits: tuple[str, ...] = SPLITS,
) -> tuple[dict[str, list[dict[str, Any]]], LoadReport]:
    """Reads a benchmark in the generic format into rows of the dialogue schema (label names), with a report.

    Args:
        benchmark: Any benchmark; its labels, speakers and `speaker_aliases` check the rows.
        data_dir: Folder the file patterns are relative to; None uses the folder of the benchmark YAML.
        data: How the files are laid out (a `GenericData` or a mapping in the YAML's `data:` layout); None uses the
            benchmark's own `data:` section, or the default layout (`train.<ext>`, `validation.<ext>`, `test.<ext>`).
        splits: Which of train/validation/test to read.

    Raises:
        DataFileError: a file is missing or malformed (the message names the file and line, or the Parquet row).
    """
    if isinstance(data, Mapping):
        data = GenericData.from_dict(data)
    data = data or benchmark.data or GenericData()
    data.check_labels(benchmark)
    bad = [split for split in splits if split not in SPLITS]
    if bad:
        raise ValueError(f"Unknown splits {bad}; splits are {SPLITS}.")
    files = data_files(benchmark, data_dir, data=data, splits=splits)
    collector = _Collector(benchmark, data)
    report = LoadReport(benchmark=benchmark.name)
    for split, paths in files.items():
        for path in paths:
            collector.read_file(path, None if split == "*" else split)
    rows: dict[str, list[dict[str, Any]]] = {}
    for split in splits:
        rows[split] = collector.rows(split)
        paths = files.get(split, files.get("*", []))
        report.files[split] = ", ".join(str(p) for p in paths)
        report.formats[split] = f"{GENERIC_FORMAT} ({', '.join(sorted({_file_type(p, data) for p in paths}))})"
        if not rows[split]:
            raise DataFileError(
                f"No {split} rows for {benchmark.display_name} in {report.files[split]}; expected rows whose "
                f"{data.column('split')!r} column names the {split} split."
            )
    return rows, report
