"""Label-distribution plots for dataset cards (matplotlib, Agg backend, deterministic PNG bytes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .files import atomic_path

__all__ = ["IMAGE_FORMATS", "check_image_path", "image_format", "plot_label_distribution"]

#: The image formats a plot is written in, chosen by the file's suffix (no suffix: png); every command option that
#: names an image file (`--plot`) is checked against them before any work.
IMAGE_FORMATS = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp")


def check_image_path(path: str | Path, option: str) -> None:
    """Refuses, before any work, an image path whose suffix names no format `IMAGE_FORMATS` has.

    Raises:
        ValueError: naming the option, the path and the formats allowed.
    """
    suffix = Path(path).suffix.lstrip(".").lower()
    if suffix and suffix not in IMAGE_FORMATS:
        raise ValueError(
            f"{option} {str(path)!r}: the suffix chooses the image format, and .{suffix} is none; use one of "
            f"{', '.join('.' + name for name in IMAGE_FORMATS)}."
        )


def image_format(path: str | Path) -> str:
    """The format an image is written in: its suffix (checked by `check_image_path`), png when it has none."""
    return Path(path).suffix.lstrip(".").lower() or "png"


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
        path: Where the image is written (atomically), in the format its suffix names (`image_format`).
        title: Figure title, usually the config name.
        log_scale: Draw counts on a log-scaled axis (rare labels stay visible next to a dominant one).

    Returns:
        The path of the written image.
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
            fmt = image_format(path)
            fig.savefig(tmp, format=fmt, metadata={"Software": None} if fmt == "png" else None)
    finally:
        plt.close(fig)
    return path
