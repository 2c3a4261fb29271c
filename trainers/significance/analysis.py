"""One call from a scores table to the whole analysis: ranks, omnibus test, corrected exact pairwise tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trainers.significance.comparisons import Comparison, compare, select_comparisons
from trainers.significance.friedman import FriedmanResult, friedman_test
from trainers.significance.ranking import Ranking, rank_table
from trainers.significance.table import ScoreTable

__all__ = ["SignificanceReport", "analyse"]

TIES_NOTE = (
    "Tied scores in {blocks} of {n} blocks: mid-ranks were used, and the exact p-values assume no ties "
    "(a mid-rank difference is rounded up to the next integer), so treat them as approximate."
)


@dataclass(frozen=True)
class SignificanceReport:
    """Everything the significance command reports.

    Args:
        ranking: Ranks and rank sums of the table.
        omnibus: Friedman and Iman-Davenport tests.
        comparisons: The pairwise comparisons made, with exact and corrected p-values.
        correction: The multiple-comparison correction used.
        notes: Warnings for the reader (ties).
    """

    ranking: Ranking
    omnibus: FriedmanResult
    comparisons: tuple[Comparison, ...]
    correction: str
    notes: tuple[str, ...] = field(default=())

    @property
    def table(self) -> ScoreTable:
        """The scores table analysed."""
        return self.ranking.table

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with `omnibus`, `comparisons` and the context needed to read them."""
        sums = [int(s) if s.denominator == 1 else float(s) for s in self.ranking.rank_sums]
        return {
            "k": self.table.n_systems,
            "n": self.table.n_blocks,
            "systems": list(self.table.systems),
            "test_sets": list(self.table.test_sets),
            "higher_is_better": self.ranking.higher_is_better,
            "rank_sums": dict(zip(self.table.systems, sums, strict=True)),
            "floors": {name: list(values) for name, values in self.table.floors},
            "omnibus": self.omnibus.to_dict(),
            "correction": self.correction,
            "ties": self.ranking.has_ties,
            "notes": list(self.notes),
            "comparisons": [c.to_dict() for c in self.comparisons],
        }


def analyse(
    table: ScoreTable,
    *,
    comparisons: Sequence[tuple[str, str]] | None = None,
    compare_specs: Iterable[str] | None = None,
    control: str | None = None,
    correction: str = "bonferroni",
    higher_is_better: bool = True,
) -> SignificanceReport:
    """Rank a table, run the Friedman omnibus test and the exact pairwise comparisons.

    Args:
        table: Scores, rows = blocks (test sets), columns = systems.
        comparisons: Explicit `(a, b)` pairs; overrides `compare_specs` and `control`.
        compare_specs: `"A:B"` strings as given on the command line.
        control: Compare every system with this one.
        correction: `"bonferroni"`, `"holm"` or `"none"`.
        higher_is_better: False for scores where lower is better (losses, error rates).

    Returns:
        A `SignificanceReport`.
    """
    ranking = rank_table(table, higher_is_better=higher_is_better)
    pairs = (
        comparisons
        if comparisons is not None
        else select_comparisons(table.systems, compare_specs, control, source=table.source)
    )
    results = tuple(compare(ranking, pairs, correction=correction))
    notes = []
    if ranking.has_ties:
        tied = sum(1 for groups in ranking.tie_groups if groups)
        notes.append(TIES_NOTE.format(blocks=tied, n=table.n_blocks))
    return SignificanceReport(ranking, friedman_test(ranking), results, correction, tuple(notes))
