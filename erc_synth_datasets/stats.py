"""Statistics of a dialogue `DatasetDict` (real or synthetic): counts, turns, speakers, label distribution."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["compute_stats", "format_stats", "plot_label_distribution"]


def compute_stats(dataset_dict) -> dict[str, Any]:
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
    from .plots import plot_label_distribution as plot_counts

    counts = {split: list(values["labels"].values()) for split, values in stats["splits"].items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return plot_counts(counts, stats["labels"], path, title=title or "Label distribution per split", log_scale=True)
