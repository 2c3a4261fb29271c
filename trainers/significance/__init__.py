"""Significance statistics for comparing systems over several test sets.

Friedman ranks (1 = best, mid-ranks for ties) and rank sums, the Friedman and Iman-Davenport omnibus tests, exact
p-values for the difference of two Friedman rank sums (Eisinga, Heskes, Pelzer and Te Grotenhuis, 2017, BMC
Bioinformatics 18:68) with Bonferroni or Holm correction over the comparisons made, Markdown/LaTeX/JSON renderings
and a critical-difference diagram.

Example:
    ```python
    >>> from trainers.significance import analyse, read_table, render_markdown
    >>> report = analyse(read_table("runs/experiment/table.csv"))
    >>> print(render_markdown(report))
    ```
"""

from trainers.significance.analysis import SignificanceReport, analyse
from trainers.significance.comparisons import (
    CORRECTIONS,
    Comparison,
    adjust_pvalues,
    all_pairs,
    compare,
    control_comparisons,
    default_comparisons,
    parse_comparison,
    select_comparisons,
)
from trainers.significance.errors import ComparisonError, SignificanceError, TableError
from trainers.significance.exact import (
    RankSumDifferenceDistribution,
    exact_pvalue,
    exact_pvalue_fraction,
    exact_pvalues,
    rank_sum_difference_distribution,
    tail_count,
)
from trainers.significance.friedman import FriedmanResult, friedman_test
from trainers.significance.plot import critical_difference, plot_cd_diagram
from trainers.significance.ranking import Ranking, rank_row, rank_table
from trainers.significance.render import render_json, render_latex, render_markdown
from trainers.significance.table import ScoreTable, read_table, table_from_long_rows

__all__ = [
    "CORRECTIONS",
    "Comparison",
    "ComparisonError",
    "FriedmanResult",
    "RankSumDifferenceDistribution",
    "Ranking",
    "ScoreTable",
    "SignificanceError",
    "SignificanceReport",
    "TableError",
    "adjust_pvalues",
    "all_pairs",
    "analyse",
    "compare",
    "control_comparisons",
    "critical_difference",
    "default_comparisons",
    "exact_pvalue",
    "exact_pvalue_fraction",
    "exact_pvalues",
    "friedman_test",
    "parse_comparison",
    "plot_cd_diagram",
    "rank_row",
    "rank_sum_difference_distribution",
    "rank_table",
    "read_table",
    "render_json",
    "render_latex",
    "render_markdown",
    "select_comparisons",
    "table_from_long_rows",
    "tail_count",
]
