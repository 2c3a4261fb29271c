"""Scores tables: rows are test sets (the blocks of the Friedman design), columns are systems.

Two CSV layouts are read, both as the experiment runner writes them:

- wide (`table.csv`): a header `test_set,<system>,<system>,...` and one row per test set;
- long, per seed (`table_per_seed.csv`): a header with the columns `test_set,variant,seed,score` and one row per
  (test set, variant, seed).

Columns (wide) or variants (long) named after a baseline (`trainers.baselines.BASELINES`: `majority`, `tfidf_lr`)
are the table's floor: they are kept as `ScoreTable.floors`, shown beside the systems, and never ranked or tested.

A per-seed table becomes a wide table in one of two ways (`seeds=`): `"mean"` (the default) averages each variant's
scores over its seeds, so the blocks are the test sets, as in a table of mean scores; `"blocks"` keeps every
(test set, seed) pair as a block of its own (row name `<test_set>@seed=<seed>`), which needs every variant to have
a score for every seed of that test set.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from erc_synth_datasets.files import read_text_file
from erc_synth_datasets.vocabulary import LONG_TABLE_COLUMNS, TEST_SET_COLUMN
from trainers.baselines import BASELINES
from trainers.significance.errors import TableError

__all__ = ["LONG_COLUMNS", "SEED_MODES", "ScoreTable", "read_table", "table_from_long_rows"]

LONG_COLUMNS = LONG_TABLE_COLUMNS
SEED_MODES = ("mean", "blocks")
_MISSING = {"", "na", "nan", "n/a", "none", "null", "-"}


@dataclass(frozen=True)
class ScoreTable:
    """A validated table of scores.

    Args:
        test_sets: Row names, one per block (test set, or test set and seed), unique.
        systems: Column names, one per system (variant), unique, at least two.
        scores: `scores[i][j]` is the score of `systems[j]` on `test_sets[i]`; finite numbers only.
        source: Where the table came from (a file path), used in error messages.
        floors: `(baseline, scores in row order)` pairs: the table's floor (`majority`, `tfidf_lr`), shown beside
            the systems but not ranked.
    """

    test_sets: tuple[str, ...]
    systems: tuple[str, ...]
    scores: tuple[tuple[float, ...], ...]
    source: str = field(default="<table>", compare=False)
    floors: tuple[tuple[str, tuple[float, ...]], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "test_sets", tuple(str(name) for name in self.test_sets))
        object.__setattr__(self, "systems", tuple(str(name) for name in self.systems))
        where = self.source
        try:
            object.__setattr__(self, "scores", tuple(tuple(float(value) for value in row) for row in self.scores))
        except (TypeError, ValueError) as err:
            raise TableError(f"{where}: every score must be a number, but got a value that is not ({err}).") from None
        if len(self.systems) < 2:
            raise TableError(
                f"{where}: a scores table needs at least 2 systems (columns after `test_set`), but got "
                f"{len(self.systems)}: {list(self.systems)}. Add a column per system to compare."
            )
        if not self.test_sets:
            raise TableError(f"{where}: the scores table has no rows; expected one row per test set.")
        _check_unique(self.systems, "system (column)", where)
        _check_unique(self.test_sets, "test set (row)", where)
        if len(self.scores) != len(self.test_sets):
            raise TableError(
                f"{where}: got {len(self.scores)} rows of scores for {len(self.test_sets)} test sets; expected one "
                "row of scores per test set."
            )
        object.__setattr__(
            self, "floors", tuple((str(name), tuple(float(v) for v in values)) for name, values in self.floors)
        )
        for name, values in self.floors:
            if len(values) != len(self.test_sets):
                raise TableError(
                    f"{where}: the floor {name!r} has {len(values)} scores for {len(self.test_sets)} test sets."
                )
        for test_set, row in zip(self.test_sets, self.scores, strict=True):
            if len(row) != len(self.systems):
                raise TableError(
                    f"{where}: row {test_set!r} has {len(row)} scores but there are {len(self.systems)} systems "
                    f"{list(self.systems)}; expected one score per system."
                )
            for system, value in zip(self.systems, row, strict=True):
                if not math.isfinite(value):
                    raise TableError(
                        f"{where}: row {test_set!r}, column {system!r} holds {value!r}; expected a finite number."
                    )

    @property
    def n_blocks(self) -> int:
        """Number of blocks (rows), `n` in the Friedman design."""
        return len(self.test_sets)

    @property
    def n_systems(self) -> int:
        """Number of systems (columns), `k` in the Friedman design."""
        return len(self.systems)

    def floor_rows(self) -> tuple[tuple[str, ...], tuple[tuple[float, ...], ...]]:
        """The floor's names and its scores row by row (rows of `()` when the table has no floor)."""
        names = tuple(name for name, _ in self.floors)
        rows = tuple(tuple(values[i] for _, values in self.floors) for i in range(len(self.test_sets)))
        return names, rows

    def column(self, system: str) -> tuple[float, ...]:
        """The scores of one system, in row order."""
        j = self.systems.index(system)
        return tuple(row[j] for row in self.scores)


def _check_unique(names: Sequence[str], what: str, where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise TableError(f"{where}: the {what} name {name!r} appears more than once; expected unique names.")
        seen.add(name)


def _parse_number(text: str, where: str, line: int, column: str) -> float:
    cell = text.strip()
    if cell.lower() in _MISSING:
        raise TableError(
            f"{where}, line {line}, column {column!r}: the value is missing ({text!r}); expected a number. "
            "Every system needs a score on every test set: fill the cell or drop the row or column."
        )
    try:
        value = float(cell)
    except ValueError:
        raise TableError(
            f"{where}, line {line}, column {column!r}: {text!r} is not a number; expected a score such as 65.43."
        ) from None
    if not math.isfinite(value):
        raise TableError(f"{where}, line {line}, column {column!r}: {text!r} is not a finite number.")
    return value


def read_table(path: str | Path, *, seeds: str = "mean") -> ScoreTable:
    """Read a wide (`table.csv`) or long per-seed (`table_per_seed.csv`) scores table.

    Args:
        path: CSV file. Wide: first column `test_set`, one column per system. Long: columns
            `test_set,variant,seed,score` (any order).
        seeds: For a long table, `"mean"` averages over seeds (blocks = test sets) and `"blocks"` makes every
            (test set, seed) pair a block. Ignored for a wide table.

    Returns:
        The validated `ScoreTable`.

    Raises:
        TableError: The file is missing, empty or malformed; the message names the file, line and column.

    Example:
        ```python
        >>> table = read_table("runs/experiment/table.csv")
        >>> table.systems
        ('compm_org', 'compm_natural', 'compm_balanced')
        ```
    """
    if seeds not in SEED_MODES:
        raise TableError(f"seeds must be one of {list(SEED_MODES)}, but got seeds={seeds!r}.")
    where = str(path)
    text = read_text_file(path, what="Scores table", error=TableError, missing_hint="expected a CSV scores table")
    try:
        rows = _numbered_rows(io.StringIO(text, newline=""))
    except csv.Error as err:
        raise TableError(f"{where}: not a readable CSV scores table ({err}).") from None
    if not rows:
        raise TableError(f"{where}: the file is empty; expected a header `test_set,<system>,...` and rows.")
    _, header = rows[0]
    header = [name.strip() for name in header]
    body = rows[1:]
    if set(header) == set(LONG_COLUMNS) and len(header) == len(LONG_COLUMNS):
        records = []
        index = {name: header.index(name) for name in LONG_COLUMNS}
        for line, row in body:
            if len(row) != len(header):
                raise TableError(f"{where}, line {line}: got {len(row)} cells; expected {len(header)} ({header}).")
            score = _parse_number(row[index["score"]], where, line, "score")
            records.append(
                (
                    row[index[TEST_SET_COLUMN]].strip(),
                    row[index["variant"]].strip(),
                    row[index["seed"]].strip(),
                    score,
                    line,
                )
            )
        return table_from_long_rows(records, seeds=seeds, source=where)
    if not header or header[0] != TEST_SET_COLUMN:
        raise TableError(
            f"{where}, line 1: the first column is {header[0] if header else None!r}; expected `test_set` followed by "
            f"one column per system (wide `table.csv`), or the columns {','.join(LONG_COLUMNS)} (per-seed table)."
        )
    systems = header[1:]
    for j, name in enumerate(systems, start=2):
        if not name:
            raise TableError(f"{where}, line 1, column {j}: empty system name; expected a name per column.")
    test_sets, scores = [], []
    for line, row in body:
        if len(row) != len(header):
            raise TableError(
                f"{where}, line {line}: got {len(row)} cells; expected {len(header)} (`test_set` and one score for "
                f"each of {systems})."
            )
        test_sets.append(row[0].strip())
        scores.append(
            [_parse_number(cell, where, line, system) for cell, system in zip(row[1:], systems, strict=True)]
        )
    return _split_floors(test_sets, systems, scores, where)


def _split_floors(
    test_sets: Sequence[str], columns: Sequence[str], rows: Sequence[Sequence[float]], source: str
) -> ScoreTable:
    """A `ScoreTable` whose baseline columns (`BASELINES`) are its floor, the other columns its systems."""
    systems = [j for j, name in enumerate(columns) if name not in BASELINES]
    floors = [j for j, name in enumerate(columns) if name in BASELINES]
    return ScoreTable(
        tuple(test_sets),
        tuple(columns[j] for j in systems),
        tuple(tuple(row[j] for j in systems) for row in rows),
        source=source,
        floors=tuple((columns[j], tuple(row[j] for row in rows)) for j in floors),
    )


def _numbered_rows(handle: TextIO) -> list[tuple[int, list[str]]]:
    """Non-blank CSV rows with the line number where each ends (for error messages)."""
    reader = csv.reader(handle)
    out = []
    for row in reader:
        if not row or all(not cell.strip() for cell in row):
            continue
        out.append((reader.line_num, row))
    return out


def table_from_long_rows(
    records: Sequence[tuple[str, str, str, float] | tuple[str, str, str, float, int]],
    *,
    seeds: str = "mean",
    source: str = "<table>",
) -> ScoreTable:
    """Turn long per-seed records `(test_set, variant, seed, score[, line])` into a wide `ScoreTable`.

    Args:
        records: One record per (test set, variant, seed); the optional fifth item is a line number for errors.
        seeds: `"mean"` averages over seeds; `"blocks"` makes every (test set, seed) pair a block.
        source: Name used in error messages.

    Raises:
        TableError: A (test set, variant, seed) appears twice, or a variant lacks a score another variant has.
    """
    if seeds not in SEED_MODES:
        raise TableError(f"seeds must be one of {list(SEED_MODES)}, but got seeds={seeds!r}.")
    if not records:
        raise TableError(f"{source}: the per-seed table has no rows; expected one row per (test set, variant, seed).")
    values: dict[tuple[str, str, str], float] = {}
    test_sets: list[str] = []
    variants: list[str] = []
    for record in records:
        test_set, variant, seed, score = record[:4]
        line = f", line {record[4]}" if len(record) > 4 else ""
        key = (test_set, variant, seed)
        if key in values:
            raise TableError(
                f"{source}{line}: test_set={test_set!r}, variant={variant!r}, seed={seed!r} appears twice; expected "
                "one score per (test set, variant, seed)."
            )
        values[key] = float(score)
        if test_set not in test_sets:
            test_sets.append(test_set)
        if variant not in variants:
            variants.append(variant)
    seeds_of = {t: sorted({s for (tt, _, s) in values if tt == t}, key=_seed_key) for t in test_sets}
    rows: list[str] = []
    scores: list[tuple[float, ...]] = []
    for test_set in test_sets:
        if seeds == "mean":
            row = []
            for variant in variants:
                got = [values[(test_set, variant, s)] for s in seeds_of[test_set] if (test_set, variant, s) in values]
                if not got:
                    raise TableError(
                        f"{source}: variant {variant!r} has no score on test set {test_set!r}; expected at least one "
                        "seed per (test set, variant)."
                    )
                row.append(math.fsum(got) / len(got))
            rows.append(test_set)
            scores.append(tuple(row))
            continue
        for seed in seeds_of[test_set]:
            missing = [v for v in variants if (test_set, v, seed) not in values]
            if missing:
                raise TableError(
                    f"{source}: with seeds='blocks' every variant needs a score for test_set={test_set!r}, "
                    f"seed={seed!r}, but {missing} have none. Use seeds='mean' (--seeds mean) or add the runs."
                )
            rows.append(f"{test_set}@seed={seed}")
            scores.append(tuple(values[(test_set, v, seed)] for v in variants))
    return _split_floors(rows, variants, scores, source)


def _seed_key(seed: str) -> tuple[int, float | str]:
    try:
        return (0, float(seed))
    except ValueError:
        return (1, seed)
