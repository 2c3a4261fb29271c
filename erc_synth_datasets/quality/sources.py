"""Where the dialogues of a quality report come from: a generation run folder, a built dataset config, or a real
benchmark. Everything is turned into `metrics.Dialogue` (label ids in the benchmark's canonical order) plus what the
source knows about how the dialogues were made (attempts, rejections, `max_turns`, `max_new_tokens`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..benchmarks import Benchmark, get_benchmark, list_benchmarks
from ..errors import ErcSynthError
from ..runs import RunFormatError, iter_accepted, iter_rejected, read_manifest
from ..swap import recover_swap
from .metrics import Dialogue

__all__ = [
    "QualitySourceError",
    "SyntheticSource",
    "dialogues_from_records",
    "load_dataset_config",
    "load_real_split",
    "load_run",
]


class QualitySourceError(ErcSynthError, ValueError):
    """A run folder, dataset config or benchmark folder cannot be read for a quality report."""


@dataclass
class SyntheticSource:
    """Synthetic dialogues and what is known about their generation.

    Args:
        kind: `run` or `dataset`.
        path: The run folder or dataset folder.
        benchmark: The benchmark the dialogues follow.
        dialogues: The accepted dialogues.
        config: The dataset config name (datasets only).
        max_turns: The run's `max_turns` setting, when known.
        max_new_tokens: The run's `max_new_tokens` setting, when known.
        attempts: Generation attempts, when known (accepted + rejected).
        rejections: Rejection reason code -> count, when known.
        cut_off: Attempts whose completion used all `max_new_tokens` (runs only).
        dialogue_ids: The dialogues' ids, in order, when known (the LLM judge's cache key).
    """

    kind: str
    path: str
    benchmark: Benchmark
    dialogues: list[Dialogue]
    config: str | None = None
    max_turns: int | None = None
    max_new_tokens: int | None = None
    attempts: int | None = None
    rejections: dict[str, int] = field(default_factory=dict)
    cut_off: int | None = None
    dialogue_ids: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """The provenance block of the report."""
        return {
            "kind": self.kind,
            "path": self.path,
            "config": self.config,
            "benchmark": self.benchmark.name,
            "max_turns": self.max_turns,
            "max_new_tokens": self.max_new_tokens,
        }


def dialogues_from_records(records: Iterable[dict[str, Any]], benchmark: Benchmark, where: str) -> list[Dialogue]:
    """Dialogues from records holding `speakers`, `utterances` and `emotions` (label names or ids).

    Raises:
        QualitySourceError: a record lacks a column or holds a label outside the benchmark (names the record).
    """
    dialogues = []
    for number, record in enumerate(records, start=1):
        try:
            emotions = [label if isinstance(label, int) else benchmark.label_id(label) for label in record["emotions"]]
            dialogues.append(Dialogue(record["speakers"], record["utterances"], emotions))
        except KeyError as err:
            raise QualitySourceError(f"{where}: record {number} lacks the column {err}.") from None
        except ValueError as err:
            raise QualitySourceError(f"{where}: record {number}: {err}") from None
    return dialogues


def load_run(run_dir: str | Path) -> SyntheticSource:
    """Reads a generation run folder for a quality report: complete, stopped, or still running (the records written
    so far; a torn last line is skipped).

    Raises:
        QualitySourceError: the folder is not a readable run, or a record is corrupt (names the file and line).
    """

    run_dir = Path(run_dir)
    try:
        manifest = read_manifest(run_dir)
        benchmark = Benchmark(**manifest.benchmark)
        records = [record.to_dict() for record in iter_accepted(run_dir)]
        rejected = list(iter_rejected(run_dir))
    except (RunFormatError, TypeError) as err:
        raise QualitySourceError(f"{run_dir}: {err}") from None
    settings = manifest.settings
    max_new_tokens = settings.get("max_new_tokens")
    rejections = Counter(record.reason for record in rejected)
    return SyntheticSource(
        kind="run",
        path=str(run_dir),
        benchmark=benchmark,
        dialogues=dialogues_from_records(records, benchmark, str(run_dir)),
        max_turns=settings.get("max_turns"),
        max_new_tokens=max_new_tokens,
        attempts=len(records) + len(rejected),
        rejections=dict(sorted(rejections.items())),
        dialogue_ids=[record["dialogue_id"] for record in records],
        cut_off=(
            sum(record.completion_tokens >= max_new_tokens for record in rejected)
            if max_new_tokens is not None
            else None
        ),
    )


def _benchmark_for_labels(labels: list[str], where: str) -> Benchmark:
    for name in list_benchmarks():
        benchmark = get_benchmark(name)
        if list(benchmark.labels) == labels:
            return benchmark
    raise QualitySourceError(
        f"{where}: its labels {labels} match no registered benchmark ({', '.join(list_benchmarks())}); pass "
        "--benchmark with the benchmark (or custom benchmark YAML) it follows."
    )


def load_dataset_config(folder: str | Path, config: str, benchmark: str | Benchmark | None = None) -> SyntheticSource:
    """Reads every split of one config of a dataset folder built by `erc-synth build`.

    Args:
        folder: The dataset folder.
        config: The config name, e.g. `meld_balanced`.
        benchmark: The benchmark; default: the registered benchmark whose labels match the config's.

    Raises:
        QualitySourceError: the folder or config cannot be loaded.
    """
    from datasets import concatenate_datasets, load_dataset

    recover_swap(folder)  # a build killed between its renames leaves the folder aside: put it back first
    where = f"{folder} (config {config!r})"
    try:
        splits = load_dataset(str(folder), config)
    except (FileNotFoundError, ValueError) as err:
        raise QualitySourceError(f"Cannot load {where}: {err}") from None
    data = concatenate_datasets([splits[name] for name in splits])
    names = list(data.features["emotions"].feature.names)
    benchmark = get_benchmark(benchmark) if benchmark is not None else _benchmark_for_labels(names, where)
    settings = data[0]["sampling"] if len(data) and "sampling" in data.column_names else None
    return SyntheticSource(
        kind="dataset",
        path=str(folder),
        config=config,
        benchmark=benchmark,
        dialogues=dialogues_from_records(data, benchmark, where),
        max_new_tokens=(settings or {}).get("max_new_tokens"),
        dialogue_ids=list(data["dialogue_id"]) if "dialogue_id" in data.column_names else [],
    )


def load_real_split(benchmark: Benchmark, data_dir: str | Path, split: str) -> list[Dialogue]:
    """One split of a real benchmark (via `load_benchmark`) as dialogues.

    Raises:
        QualitySourceError: the files are missing or malformed (the loader's message names file and line).
    """
    # the loaders import datasets (through the schema): loaded only when a data file is read.
    from ..loaders import DataFileError, load_benchmark

    try:
        data = load_benchmark(benchmark, data_dir, splits=(split,))[split]
    except (DataFileError, FileNotFoundError) as err:
        raise QualitySourceError(str(err)) from None
    return dialogues_from_records(data, benchmark, f"{data_dir} ({split})")
