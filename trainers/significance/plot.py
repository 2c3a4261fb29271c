"""Critical-difference diagram (after Demsar, 2006) drawn with the exact rank sum difference distribution.

Systems sit on an axis of average ranks (1 = best, on the left). The critical difference (CD) is the smallest
average-rank difference whose exact two-sided p-value, Bonferroni-corrected over `m` comparisons, is at most `alpha`:
`CD = d* / n` with `d* = min{d : m P(|D| >= d) <= alpha}`. Thick bars join groups of systems whose average ranks
span less than the CD, i.e. groups within which no pair would be significant at that level.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from erc_synth_datasets.files import atomic_path
from erc_synth_datasets.plots import image_format
from trainers.significance.exact import tail_count
from trainers.significance.ranking import Ranking

__all__ = ["critical_difference", "plot_cd_diagram"]


def critical_difference(k: int, n: int, *, alpha: float = 0.05, comparisons: int = 1) -> int | None:
    """Smallest rank sum difference significant at `alpha` after Bonferroni over `comparisons` tests.

    Args:
        k: Number of systems.
        n: Number of blocks.
        alpha: Family-wise significance level.
        comparisons: Number of comparisons the correction runs over.

    Returns:
        The critical rank sum difference `d*` (divide by `n` for average ranks), or None when even the largest
        possible difference is not significant.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), but got alpha={alpha!r}.")
    if comparisons < 1:
        raise ValueError(f"comparisons must be >= 1, but got comparisons={comparisons!r}.")
    total = (k * (k - 1)) ** n
    level = Fraction(str(alpha))  # 0.05 -> 1/20 exactly

    def significant(d: int) -> bool:
        # exact rational comparison: comparisons * 2 * tail / total <= alpha
        return comparisons * 2 * tail_count(d, k, n) * level.denominator <= level.numerator * total

    low, high = 1, n * (k - 1)
    if not significant(high):
        return None
    while low < high:  # the tail shrinks as d grows: binary search, a few closed-form tails
        middle = (low + high) // 2
        if significant(middle):
            high = middle
        else:
            low = middle + 1
    return low


def plot_cd_diagram(
    ranking: Ranking,
    path: str | Path,
    *,
    alpha: float = 0.05,
    comparisons: int | None = None,
    title: str | None = None,
) -> float | None:
    """Draw a critical-difference diagram and write it atomically to `path` (format from the suffix).

    Args:
        ranking: Ranks of the table.
        path: Output image (`.png`, `.pdf`, `.svg`).
        alpha: Family-wise significance level of the CD.
        comparisons: Number of comparisons for the Bonferroni factor; all pairs `k(k-1)/2` by default.
        title: Optional title.

    Returns:
        The critical difference in average ranks, or None when no difference can be significant.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = ranking.table
    k, n = table.n_systems, table.n_blocks
    m = comparisons if comparisons is not None else k * (k - 1) // 2
    d_star = critical_difference(k, n, alpha=alpha, comparisons=m)
    cd = None if d_star is None else d_star / n
    averages = ranking.average_ranks
    order = sorted(range(k), key=lambda j: averages[j])
    left = order[: (k + 1) // 2]
    right = order[(k + 1) // 2 :]

    groups: list[tuple[int, int]] = []  # runs of systems (in rank order) spanning less than the CD
    if cd is not None:
        for start in range(k):
            stop = start
            while stop + 1 < k and averages[order[stop + 1]] - averages[order[start]] < cd - 1e-12:
                stop += 1
            if stop > start and not any(s <= start and stop <= e for s, e in groups):
                groups.append((start, stop))
    top = -0.28 - 0.07 * len(groups)  # labels start below the group bars
    rows = max(len(left), len(right))
    height = 1.6 + 0.28 * rows + 0.07 * len(groups)
    fig, ax = plt.subplots(figsize=(8, height))
    ax.set_xlim(0.5 - 0.35 * k / 3, k + 0.5 + 0.35 * k / 3)
    ax.set_ylim(top - 0.3 - 0.28 * rows, 1.0)
    ax.axis("off")
    ax.hlines(0, 1, k, color="black", linewidth=1)
    for tick in range(1, k + 1):
        ax.vlines(tick, 0, 0.08, color="black", linewidth=1)
        ax.text(tick, 0.14, str(tick), ha="center", va="bottom", fontsize=8)
    for row, j in enumerate(left):
        y = top - 0.28 * row
        ax.plot([averages[j], averages[j], 1 - 0.1], [0, y, y], color="black", linewidth=0.8)
        ax.text(1 - 0.15, y, f"{table.systems[j]} ({averages[j]:.2f})", ha="right", va="center", fontsize=8)
    for row, j in enumerate(reversed(right)):
        y = top - 0.28 * row
        ax.plot([averages[j], averages[j], k + 0.1], [0, y, y], color="black", linewidth=0.8)
        ax.text(k + 0.15, y, f"({averages[j]:.2f}) {table.systems[j]}", ha="left", va="center", fontsize=8)
    if cd is not None:
        ax.hlines(0.62, 1, 1 + cd, color="black", linewidth=1.5)
        ax.text(
            1 + cd / 2,
            0.68,
            f"CD = {cd:.2f} (exact, alpha = {alpha:g}, {m} comparison{'s' if m != 1 else ''})",
            ha="center",
            va="bottom",
            fontsize=8,
        )
        for level, (start, stop) in enumerate(groups):
            y = -0.12 - 0.07 * level
            ax.hlines(y, averages[order[start]] - 0.03, averages[order[stop]] + 0.03, color="black", linewidth=3)
    if title:
        ax.set_title(title, fontsize=10)
    target = Path(path)
    try:
        with atomic_path(target) as temporary:
            fig.savefig(temporary, format=image_format(target), bbox_inches="tight", dpi=150)
    finally:
        plt.close(fig)
    return cd
