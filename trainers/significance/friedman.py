"""The omnibus test: Friedman's chi-square (tie-corrected) and the Iman-Davenport F variant."""

from __future__ import annotations

import math
from dataclasses import dataclass

from trainers.significance.ranking import Ranking, rank_table
from trainers.significance.table import ScoreTable

__all__ = ["FriedmanResult", "friedman_test"]


@dataclass(frozen=True)
class FriedmanResult:
    """Result of the Friedman omnibus test.

    Args:
        k: Number of systems.
        n: Number of blocks.
        chi2: Friedman's chi-square statistic, corrected for ties as `scipy.stats.friedmanchisquare` does.
        df: Degrees of freedom of the chi-square, `k - 1`.
        p_chi2: Upper-tail chi-square p-value.
        f: The Iman-Davenport statistic `(n - 1) chi2 / (n (k - 1) - chi2)`; `inf` when all blocks rank the
            systems identically, `None` when `n = 1`.
        df1: Numerator degrees of freedom of F, `k - 1`.
        df2: Denominator degrees of freedom of F, `(k - 1)(n - 1)`.
        p_f: Upper-tail F p-value, `None` when F is undefined.
    """

    k: int
    n: int
    chi2: float
    df: int
    p_chi2: float
    f: float | None
    df1: int
    df2: int
    p_f: float | None

    def to_dict(self) -> dict[str, float | int | None]:
        """Plain JSON-ready dict (`inf` becomes the string `"inf"`)."""
        out: dict[str, float | int | None] = {}
        for key, value in self.__dict__.items():
            out[key] = "inf" if isinstance(value, float) and math.isinf(value) else value
        return out


def friedman_test(scores: ScoreTable | Ranking, *, higher_is_better: bool = True) -> FriedmanResult:
    """Friedman's chi-square test that all systems have the same rank distribution, and Iman-Davenport's F.

    Args:
        scores: A table (ranked here) or an existing `Ranking`.
        higher_is_better: Direction used when `scores` is a table (the statistic does not depend on it).

    Returns:
        A `FriedmanResult`.

    Example:
        ```python
        >>> table = ScoreTable(("a", "b", "c"), ("x", "y", "z"), ((1, 2, 3), (1, 3, 2), (2, 1, 3)))
        >>> round(friedman_test(table).chi2, 4)
        2.6667
        ```
    """
    from scipy import stats

    ranking = scores if isinstance(scores, Ranking) else rank_table(scores, higher_is_better=higher_is_better)
    k, n = ranking.table.n_systems, ranking.table.n_blocks
    sum_squares = sum(total * total for total in ranking.rank_sums)
    chi2 = 12 * sum_squares / (n * k * (k + 1)) - 3 * n * (k + 1)
    ties = sum(t**3 - t for group in ranking.tie_groups for t in group)
    correction = 1 - ties / (n * k * (k * k - 1))
    # correction is 0 only when every block ties all systems: no information, chi2 = 0 by convention
    chi2_value = float(chi2 / correction) if correction > 0 else 0.0
    df = k - 1
    p_chi2 = float(stats.chi2.sf(chi2_value, df))
    df2 = (k - 1) * (n - 1)
    f: float | None
    p_f: float | None
    if n < 2:
        f, p_f = None, None
    else:
        denominator = n * (k - 1) - chi2_value
        if denominator <= 1e-12 * max(1.0, n * (k - 1)):
            f, p_f = math.inf, 0.0
        else:
            f = (n - 1) * chi2_value / denominator
            p_f = float(stats.f.sf(f, k - 1, df2))
    return FriedmanResult(k=k, n=n, chi2=chi2_value, df=df, p_chi2=p_chi2, f=f, df1=k - 1, df2=df2, p_f=p_f)
