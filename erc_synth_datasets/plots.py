"""Label-distribution plots for dataset cards (matplotlib, Agg backend, deterministic PNG bytes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .files import atomic_path

__all__ = ["plot_label_distribution"]


def plot_label_distribution(
    counts: Mapping[str, Sequence[int]],
    labels: Sequence[str],
    path: str | Path,
    *,
    title: str,
    log_scale: bool = False,
) -> Path:
    """Draws one grouped bar chart of utterances per label, one bar group per label and one bar per split.

    Args:
        counts: Split name -> utterance count per label, in the order of `labels`.
        labels: Label names in canonical order (the `ClassLabel` names).
        path: Where the PNG is written (atomically).
        title: Figure title, usually the config name.
        log_scale: Draw counts on a log-scaled axis (rare labels stay visible next to a dominant one).

    Returns:
        The path of the written PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    splits = list(counts)
    width = 0.8 / max(1, len(splits))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels)), 3.6), dpi=100)
    try:
        for i, split in enumerate(splits):
            positions = [x + (i - (len(splits) - 1) / 2) * width for x in range(len(labels))]
            ax.bar(positions, list(counts[split]), width=width, label=split)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([f"{i}: {label}" for i, label in enumerate(labels)], rotation=30, ha="right")
        if log_scale:
            ax.set_yscale("log")
        ax.set_ylabel("utterances (log scale)" if log_scale else "utterances")
        ax.set_title(title)
        ax.legend(frameon=False)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            # No "Software"/date metadata: the same counts always give the same bytes.
            fig.savefig(tmp, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
    return path
