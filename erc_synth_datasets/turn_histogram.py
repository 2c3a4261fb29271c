"""A benchmark's turns-per-dialogue histogram: how many dialogues of the real train split have each number of turns.

Generation draws a turn count per dialogue from it (`turn_counts: reference`, `generation.turns`). It is one of the
files beside a benchmark definition (`turns_histogram:` in the YAML, `BenchmarkFiles.turns_histogram`):

- a built-in benchmark ships it (`builtin_benchmarks/<name>/turns.yaml`, written with the reference figures by
  `python -m erc_synth_datasets.quality.reference`), so generating needs no benchmark file;
- a custom benchmark whose YAML has a `data:` section gets it computed from the train split those files hold, and
  cached beside the YAML (`<stem>.turns.yaml` unless the YAML names another file). The cache records the size and
  sha256 of every file it was computed from; when a file changes, the histogram is computed again. A folder that
  cannot be written to only loses the cache.

Only counts are stored, never text.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .benchmarks import Benchmark, get_benchmark
from .errors import ErcSynthError
from .files import read_yaml_mapping, write_text_atomic
from .loaders.generic import data_files, read_generic
from .vocabulary import Split

__all__ = [
    "TurnHistogramError",
    "compute_turns_histogram",
    "source_fingerprint",
    "turns_histogram",
    "write_turns_histogram",
]

logger = logging.getLogger(__name__)

_SPLIT = Split.TRAIN.value


class TurnHistogramError(ErcSynthError, ValueError):
    """A stored turns histogram is malformed."""


def _fingerprint(paths: list[Path]) -> list[dict[str, Any]]:
    """Size and sha256 of each file, in reading order (what a cached histogram was computed from)."""
    out = []
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        out.append({"size": path.stat().st_size, "sha256": digest.hexdigest()})
    return out


def source_fingerprint(benchmark: Benchmark, data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Size and sha256 of the generic-format files the benchmark's train split is read from (what a computed
    histogram records as its `source`).

    Raises:
        DataFileError: no data folder, or a file pattern that matches no file.
    """
    found = data_files(benchmark, data_dir, splits=(_SPLIT,))
    return _fingerprint(found.get(_SPLIT, found.get("*", [])))


def _checked(stored: Any, path: Path) -> dict[int, int]:
    if not isinstance(stored, Mapping) or not stored:
        raise TurnHistogramError(f"{path}: turns_histogram must be a non-empty mapping, but got {stored!r}.")
    histogram: dict[int, int] = {}
    for turns, count in stored.items():
        try:
            turns_value, count_value = int(turns), int(count)
        except (TypeError, ValueError):
            turns_value = count_value = -1
        if turns_value < 1 or count_value < 0:
            raise TurnHistogramError(
                f"{path}: turns_histogram must map turn counts >= 1 to counts >= 0, but got {turns!r}: {count!r}."
            )
        histogram[turns_value] = count_value
    return dict(sorted(histogram.items()))


def _read(path: Path) -> tuple[dict[int, int], Any]:
    """The histogram stored in `path` and the `source` it was computed from (None for a shipped one)."""
    data = read_yaml_mapping(path, what="Turns histogram", error=TurnHistogramError)
    return _checked(data.get("turns_histogram"), path), data.get("source")


def compute_turns_histogram(dialogues: list[list[Any]] | list[int]) -> dict[int, int]:
    """Dialogues per number of turns, from the dialogues' utterance lists (or their lengths)."""
    counts = Counter(value if isinstance(value, int) else len(value) for value in dialogues)
    return dict(sorted(counts.items()))


def write_turns_histogram(
    benchmark: Benchmark, histogram: Mapping[int, int], *, source: list[dict[str, Any]] | None = None
) -> Path:
    """Writes the benchmark's turns histogram file (atomically), with the files it was computed from when given.

    Raises:
        TurnHistogramError: the benchmark has no definition file to write beside.
        OSError: the file cannot be written.
    """
    if benchmark.files is None:
        raise TurnHistogramError(
            f"Benchmark {benchmark.name!r} was not read from a file, so there is no folder to keep its turns "
            "histogram in; read it from its YAML."
        )
    import yaml

    path = benchmark.files.turns_histogram
    data: dict[str, Any] = {"benchmark": benchmark.name, "split": _SPLIT, "turns_histogram": dict(histogram)}
    if source is not None:
        data["source"] = source
    header = (
        f"# Dialogues per number of turns in the real {benchmark.display_name} {_SPLIT} split (aggregate counts, no "
        "text);\n"
    )
    if source is None:
        header += (
            f"# regenerate with\n#   python -m erc_synth_datasets.quality.reference {benchmark.name} --data-dir DIR\n"
        )
    else:
        header += "# computed by erc-synth from the files listed under `source`, and again when one of them changes.\n"
    return write_text_atomic(path, header + yaml.safe_dump(data, sort_keys=False))


def turns_histogram(benchmark: str | Path | Benchmark) -> dict[int, int] | None:
    """The real train split's dialogues per number of turns (see the module docstring), or None when the benchmark
    has none: no stored file, and no `data:` section to compute it from.

    Raises:
        TurnHistogramError: a shipped or user-written histogram file is malformed (a malformed cache is recomputed).
        DataFileError: the files of a custom benchmark's `data:` section are missing or malformed.
    """
    benchmark = get_benchmark(benchmark)
    files = benchmark.files
    if files is None:
        return None
    path = files.turns_histogram
    if benchmark.data is None:
        return _read(path)[0] if path.is_file() else None
    source = source_fingerprint(benchmark)
    if path.is_file():
        try:
            histogram, cached_source = _read(path)
        except TurnHistogramError as err:
            logger.warning("%s; computing it again from the data", err)
        else:
            if cached_source == source:
                return histogram
    rows, _ = read_generic(benchmark, splits=(_SPLIT,))
    histogram = compute_turns_histogram([row["utterances"] for row in rows[_SPLIT]])
    try:
        write_turns_histogram(benchmark, histogram, source=source)
    except OSError as err:
        logger.warning("Cannot cache the turns histogram of %s at %s (%s).", benchmark.display_name, path, err)
    return histogram
