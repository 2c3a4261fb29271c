"""MELD's official CSV release: `{train,dev,test}_sent_emo.csv`."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..benchmarks import Benchmark
from .base import (
    DataFileError,
    LoadReport,
    _check_label,
    _check_not_empty,
    _check_speaker,
    _Dialogue,
    _read_text,
)

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
