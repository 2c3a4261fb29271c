"""Statistics of a dialogue `DatasetDict` (real or synthetic): counts, turns, speakers, label distribution."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .benchmarks import get_benchmark
from .errors import ErcSynthError
from .plots import plot_label_distribution as plot_counts
from .swap import recover_swap

if TYPE_CHECKING:
    from .build import ConfigBuild

__all__ = [
    "DATA_DIR_ENV",
    "StatsError",
    "benchmark_stats",
    "compute_stats",
    "dataset_folder_configs",
    "default_data_dir",
    "format_generation",
    "format_stats",
    "is_dataset_folder",
    "plot_label_distribution",
    "real_data_folder",
    "synthetic_stats",
]

DATA_DIR_ENV = "ERC_SYNTH_DATA_DIR"


class StatsError(ErcSynthError, ValueError):
    """Statistics cannot be computed as asked (no data folder, an unknown config of a dataset folder)."""


def default_data_dir(benchmark: str) -> Path | None:
    """`$ERC_SYNTH_DATA_DIR/<benchmark>` when that variable is set, else None."""
    root = os.environ.get(DATA_DIR_ENV)
    return Path(root) / benchmark if root else None


def real_data_folder(benchmark: Any, data_dir: str | Path | None = None) -> Path | None:
    """Where a benchmark's real files are read from: `data_dir` when given; else, for a custom benchmark whose YAML
    has a `data:` section, the folder its file names are relative to (the YAML's folder); else
    `$ERC_SYNTH_DATA_DIR/<benchmark>` when that variable is set; else None.

    Every command that reads the real side (`stats`, `quality`, the card's quality block) asks this function.
    """
    if data_dir is not None:
        return Path(data_dir)
    if benchmark.data is not None:
        return benchmark.data.base_dir
    return default_data_dir(benchmark.name)


def is_dataset_folder(source: str | Path) -> bool:
    """A folder with a dataset card (README.md): the output of `erc-synth build`."""
    path = Path(source)
    return path.is_dir() and (path / "README.md").is_file()


def benchmark_stats(benchmark: Any, data_dir: str | Path | None = None, *, format: str = "auto") -> tuple[dict, Any]:
    """Statistics of a real benchmark's splits, with its load report.

    Args:
        benchmark: A registry name, a custom benchmark YAML, or a `Benchmark`.
        data_dir: The benchmark's folder (default: `$ERC_SYNTH_DATA_DIR/<benchmark>`, or for a custom benchmark whose
            YAML has a `data:` section, the files it names).
        format: The file format to read (`auto` picks per split; `generic`: erc_synth_datasets.loaders.generic).

    Returns:
        The `stats --json` object (`benchmark`, `labels`, `splits`, `report`) and the `LoadReport`.

    Raises:
        StatsError: no folder given and `$ERC_SYNTH_DATA_DIR` unset.
        BenchmarkError, DataFileError: an unknown benchmark or a malformed file.
    """
    # the loaders import datasets (through the schema): loaded only when a data file is read.
    from .loaders import load_benchmark

    benchmark = get_benchmark(benchmark)
    data_dir = real_data_folder(benchmark, data_dir)
    if data_dir is None:
        raise StatsError(f"No data folder for {benchmark.name!r}: pass --data-dir (or set ${DATA_DIR_ENV}).")
    dataset, report = load_benchmark(benchmark, data_dir, format=format, return_report=True)
    return {"benchmark": benchmark.name, **compute_stats(dataset), "report": report.to_dict()}, report


def dataset_folder_configs(folder: str | Path) -> list[str]:
    """The config names a built dataset folder's card lists."""
    from huggingface_hub import DatasetCard

    recover_swap(folder)  # a build killed between its renames leaves the folder aside: put it back first
    card_configs = DatasetCard.load(Path(folder) / "README.md").data.to_dict().get("configs") or []
    return [entry.get("config_name") for entry in card_configs]


def synthetic_stats(
    folder: str | Path, config: str, dataset: Any = None, *, built: ConfigBuild | None = None
) -> dict[str, Any]:
    """Statistics of one config of a built dataset folder, with the generation's acceptance from its build record.

    Args:
        folder: The dataset folder.
        config: The config name (`meld_balanced`).
        dataset: The config already loaded (`load_dataset(folder, config)`); loaded here when None.
        built: The config's build record (`build.read_config_build`, which reads `build_info.json` strictly; this
            module cannot import it, since the build imports the statistics); None leaves the acceptance out.

    Raises:
        StatsError: the folder has no such config (the message lists those it has).
    """
    folder = Path(folder)
    available = dataset_folder_configs(folder)
    if config not in available:
        raise StatsError(f"{str(folder)!r} has configs {available}, but got config {config!r}.")
    if dataset is None:
        from datasets import load_dataset

        dataset = load_dataset(str(folder), config)
    stats = {"config": config, **compute_stats(dataset)}
    if built is not None:
        stats["generation"] = {
            "runs": len(built.runs),
            "models": sorted({str(run.get("model")) for run in built.runs}),
            "accepted": built.accepted,
            "attempts": built.attempts,
            "acceptance_rate": round(built.acceptance_rate, 4) if built.attempts else None,
        }
    return stats


def format_generation(generation: dict[str, Any]) -> str:
    """One sentence on who generated a config and how many attempts were accepted (`synthetic_stats` output)."""
    rate = generation["acceptance_rate"]
    return (
        f"Generated by {', '.join(generation['models'])} in {generation['runs']} run(s): "
        f"{generation['accepted']} of {generation['attempts']} attempts accepted"
        + (f" ({100 * rate:.1f}%)." if rate is not None else ".")
    )


def compute_stats(dataset_dict: Any) -> dict[str, Any]:
    """Per split: dialogues, utterances, mean turns per dialogue, distinct speakers, label counts (canonical order).

    Args:
        dataset_dict: A `DatasetDict` (or mapping of split -> `Dataset`) in the dialogue schema.

    Returns:
        `{"labels": [...], "splits": {split: {"dialogues", "utterances", "mean_turns", "speakers", "labels"}}}`.
    """
    splits: dict[str, Any] = {}
    names: list[str] = []
    for split, dataset in dataset_dict.items():
        names = list(dataset.features["emotions"].feature.names)
        label_counts: Counter = Counter()
        speakers: Counter = Counter()
        utterances = 0
        for emotions, dialogue_speakers in zip(dataset["emotions"], dataset["speakers"], strict=True):
            label_counts.update(emotions)
            speakers.update(dialogue_speakers)
            utterances += len(emotions)
        dialogues = len(dataset)
        splits[split] = {
            "dialogues": dialogues,
            "utterances": utterances,
            "mean_turns": round(utterances / dialogues, 2) if dialogues else 0.0,
            "speakers": len(speakers),
            "top_speakers": dict(speakers.most_common(6)),
            "labels": {name: label_counts.get(i, 0) for i, name in enumerate(names)},
        }
    return {"labels": names, "splits": splits}


def format_stats(stats: dict[str, Any], title: str = "") -> str:
    """A Markdown table of `compute_stats` output: one column per split."""
    splits = list(stats["splits"])
    rows = [
        ("dialogues", [str(stats["splits"][s]["dialogues"]) for s in splits]),
        ("utterances", [str(stats["splits"][s]["utterances"]) for s in splits]),
        ("mean turns", [f"{stats['splits'][s]['mean_turns']:.2f}" for s in splits]),
        ("speakers", [str(stats["splits"][s]["speakers"]) for s in splits]),
    ]
    for label in stats["labels"]:
        cells = []
        for s in splits:
            count, total = stats["splits"][s]["labels"][label], stats["splits"][s]["utterances"]
            cells.append(f"{count} ({100 * count / total:.1f}%)" if total else "0")
        rows.append((label, cells))
    lines = [f"## {title}", ""] if title else []
    lines.append("| | " + " | ".join(splits) + " |")
    lines.append("|---|" + "---:|" * len(splits))
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows]
    return "\n".join(lines)


def plot_label_distribution(stats: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Grouped bars of `compute_stats` label counts per split on a log-scaled count axis, saved as PNG."""

    counts = {split: list(values["labels"].values()) for split, values in stats["splits"].items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return plot_counts(counts, stats["labels"], path, title=title or "Label distribution per split", log_scale=True)
