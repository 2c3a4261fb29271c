"""Ranking within each block: 1 = best, mid-ranks for ties, rank sums per system."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from trainers.significance.table import ScoreTable

__all__ = ["Ranking", "rank_row", "rank_table"]


@dataclass(frozen=True)
class Ranking:
    """Ranks of every system in every block.

    Args:
        table: The table that was ranked.
        ranks: `ranks[i][j]` is the rank of system `j` in block `i` (1 = best); tied systems share the mean of the
            ranks they span (a multiple of 1/2), held exactly as `Fraction`.
        rank_sums: Sum of each system's ranks over the blocks, exact.
        tie_groups: For each block, the sizes of its groups of tied scores (only groups of 2 or more).
        higher_is_better: Whether the highest score got rank 1.
    """

    table: ScoreTable
    ranks: tuple[tuple[Fraction, ...], ...]
    rank_sums: tuple[Fraction, ...]
    tie_groups: tuple[tuple[int, ...], ...]
    higher_is_better: bool = True

    @property
    def has_ties(self) -> bool:
        """Whether any block has tied scores (the exact pairwise distribution assumes none)."""
        return any(self.tie_groups)

    @property
    def average_ranks(self) -> tuple[float, ...]:
        """Mean rank of each system over the blocks."""
        n = self.table.n_blocks
        return tuple(float(total / n) for total in self.rank_sums)

    def rank_sum(self, system: str) -> Fraction:
        """The rank sum of one system by name."""
        return self.rank_sums[self.table.systems.index(system)]


def rank_row(values: tuple[float, ...] | list[float], *, higher_is_better: bool = True) -> list[Fraction]:
    """Rank one block: 1 = best, tied values get the mean of the ranks they span.

    Args:
        values: Scores of the systems in one block.
        higher_is_better: Rank the highest value 1 when True, the lowest when False.

    Returns:
        One exact rank per value, in input order.

    Example:
        ```python
        >>> [str(r) for r in rank_row([0.7, 0.9, 0.7])]
        ['5/2', '1', '5/2']
        ```
    """
    return [Fraction(twice, 2) for twice in _doubled_ranks(values, higher_is_better)]


def _doubled_ranks(values: tuple[float, ...] | list[float], higher_is_better: bool) -> list[int]:
    """Twice the (mid-)ranks, as integers: exact and much cheaper to sum than fractions."""
    order = sorted(range(len(values)), key=lambda j: -values[j] if higher_is_better else values[j])
    doubled = [0] * len(values)
    start = 0
    while start < len(order):
        stop = start
        while stop + 1 < len(order) and values[order[stop + 1]] == values[order[start]]:
            stop += 1
        # positions start..stop (0-based) hold ranks start+1..stop+1; twice their mean is start+stop+2
        for position in range(start, stop + 1):
            doubled[order[position]] = start + stop + 2
        start = stop + 1
    return doubled


def rank_table(scores: ScoreTable, *, higher_is_better: bool = True) -> Ranking:
    """Rank the systems within each block of a scores table and sum the ranks per system.

    Args:
        scores: The table (rows = blocks, columns = systems).
        higher_is_better: True for scores such as F1 or accuracy; False for losses or error rates.

    Returns:
        A `Ranking` with exact ranks, rank sums and the tie groups of each block.
    """
    doubled_rows = [_doubled_ranks(row, higher_is_better) for row in scores.scores]
    halves = {t: Fraction(t, 2) for t in range(2, 2 * scores.n_systems + 1)}  # one Fraction per possible rank
    ranks = tuple(tuple(halves[t] for t in row) for row in doubled_rows)
    tie_groups = []
    for row in scores.scores:
        counts: dict[float, int] = {}
        for value in row:
            counts[value] = counts.get(value, 0) + 1
        tie_groups.append(tuple(sorted((c for c in counts.values() if c > 1), reverse=True)))
    rank_sums = tuple(Fraction(sum(row[j] for row in doubled_rows), 2) for j in range(scores.n_systems))
    return Ranking(scores, ranks, rank_sums, tuple(tie_groups), higher_is_better)
