"""Plots of a quality report (matplotlib, Agg backend): turns per dialogue and the label distribution, synthetic
beside real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..files import atomic_path

__all__ = ["plot_report"]


def plot_report(report: dict[str, Any], path: str | Path) -> Path:
    """Draws two panels: the share of dialogues per number of turns, and the share of utterances per label.

    Returns:
        The PNG path (written atomically).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (turns_axis, labels_axis) = plt.subplots(1, 2, figsize=(11, 3.6))
    width = 0.4
    histograms = report["turns_histogram"]
    for offset, side in ((-width / 2, "synthetic"), (width / 2, "real")):
        counts = {int(k): v for k, v in (histograms[side] or {}).items()}
        total = sum(counts.values())
        if total:
            turns = sorted(counts)
            turns_axis.bar([t + offset for t in turns], [counts[t] / total for t in turns], width, label=side)
    turns_axis.set_xlabel("turns per dialogue")
    turns_axis.set_ylabel("share of dialogues")
    turns_axis.legend()
    distribution = report["realism"]["label_distribution"]
    labels = report["labels"]
    positions = range(len(labels))
    for offset, side in ((-width / 2, "synthetic"), (width / 2, "real")):
        shares = distribution[side]
        if shares:
            labels_axis.bar([p + offset for p in positions], [shares[label] for label in labels], width, label=side)
    labels_axis.set_xticks(list(positions), labels, rotation=30, ha="right")
    labels_axis.set_ylabel("share of utterances")
    labels_axis.legend()
    figure.suptitle(f"{report['source']['config'] or report['benchmark']}: synthetic vs real")
    figure.tight_layout()
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)
    return path
