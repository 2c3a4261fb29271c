"""Text renderings of a `SignificanceReport`: a Markdown ranking table, a LaTeX table, a JSON object.

The ranking table follows the layout of ranking tables in papers that compare classifiers over several test sets:
one row per test set with each score followed by its rank in parentheses and the best score of the row in bold, then
a rank-sum row, and, when every system is the tested side (`a`) of at most one comparison, a difference row
(`rank_sum_a - rank_sum_b`) and a corrected p-value row under the tested system. A list of all comparisons follows.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

from trainers.significance.analysis import SignificanceReport

__all__ = ["format_p", "format_rank", "render_json", "render_latex", "render_markdown", "score_digits"]

_CORRECTION_NAMES = {"bonferroni": "Bonferroni", "holm": "Holm", "none": "uncorrected"}


def format_rank(value: Fraction | float) -> str:
    """`3` for whole ranks, `2.5` for mid-ranks."""
    value = Fraction(value).limit_denominator(1000)
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):g}"


def format_p(p: Fraction | float) -> str:
    """Four decimals, or scientific notation below 0.001."""
    value = float(p)
    if value == 0:
        return "0"
    return f"{value:.4f}" if value >= 0.001 else f"{value:.2e}"


def score_digits(report: SignificanceReport) -> int:
    """Decimals for scores: 2 when scores look like percentages (any |score| >= 1), else 4."""
    return 2 if any(abs(v) >= 1 for row in report.table.scores for v in row) else 4


def _signed(value: Fraction) -> str:
    text = format_rank(abs(value))
    return f"-{text}" if value < 0 else f"+{text}" if value > 0 else "0"


def _per_column_rows(report: SignificanceReport) -> tuple[list[str], list[str]] | None:
    """The difference and p cells under each system, or None when some system is `a` more than once."""
    by_a: dict[str, object] = {}
    for comparison in report.comparisons:
        if comparison.a in by_a:
            return None
        by_a[comparison.a] = comparison
    differences, pvalues = [], []
    for system in report.table.systems:
        comparison = by_a.get(system)
        differences.append(_signed(comparison.difference) if comparison else "")
        pvalues.append(format_p(comparison.p_adjusted) if comparison else "")
    return differences, pvalues


def _omnibus_sentence(report: SignificanceReport, *, latex: bool = False) -> str:
    o = report.omnibus
    chi = "$\\chi^2$" if latex else "chi2"
    text = f"Friedman {chi}({o.df}) = {o.chi2:.4f}, p = {format_p(o.p_chi2)}"
    if o.f is None:
        text += "; Iman-Davenport F undefined for one block"
    else:
        f_text = "inf" if math.isinf(o.f) else f"{o.f:.4f}"
        text += f"; Iman-Davenport F({o.df1}, {o.df2}) = {f_text}, p = {format_p(o.p_f)}"
    return text + f" (k = {o.k} systems, n = {o.n} blocks)."


def render_markdown(report: SignificanceReport, *, digits: int | None = None) -> str:
    """The Markdown ranking table, the omnibus result, the list of comparisons and any notes.

    Args:
        report: The analysis to render.
        digits: Decimals of the scores; by default 2 for percentages, 4 for fractions (see `score_digits`).

    Returns:
        Markdown text ending with a newline.
    """
    digits = score_digits(report) if digits is None else digits
    table, ranking = report.table, report.ranking
    correction = _CORRECTION_NAMES[report.correction]
    floor_names, floor_rows = table.floor_rows()
    floor_header = "".join(f" {name} (floor) |" for name in floor_names)
    no_floor = " - |" * len(floor_names)
    lines = [
        "| Test set | " + " | ".join(table.systems) + " |" + floor_header,
        "|---|" + "---:|" * (table.n_systems + len(floor_names)),
    ]
    for name, row, ranks, floor in zip(table.test_sets, table.scores, ranking.ranks, floor_rows, strict=True):
        best = min(ranks)
        cells = []
        for value, rank in zip(row, ranks, strict=True):
            score = f"{value:.{digits}f}"
            cells.append(f"**{score}** ({format_rank(rank)})" if rank == best else f"{score} ({format_rank(rank)})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |" + "".join(f" {v:.{digits}f} |" for v in floor))
    lines.append("| Rank sum | " + " | ".join(format_rank(s) for s in ranking.rank_sums) + " |" + no_floor)
    per_column = _per_column_rows(report)
    if per_column is not None:
        differences, pvalues = per_column
        lines.append("| Difference | " + " | ".join(differences) + " |" + no_floor)
        lines.append(f"| p ({correction}) | " + " | ".join(pvalues) + " |" + no_floor)
    lines += ["", _omnibus_sentence(report), ""]
    lines.append(f"| a | b | rank sum a | rank sum b | difference | p exact | p ({correction}) |")
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for c in report.comparisons:
        lines.append(
            f"| {c.a} | {c.b} | {format_rank(c.rank_sum_a)} | {format_rank(c.rank_sum_b)} | {_signed(c.difference)} "
            f"| {format_p(c.p_exact)} | {format_p(c.p_adjusted)} |"
        )
    for note in report.notes:
        lines += ["", f"> Note: {note}"]
    return "\n".join(lines) + "\n"


def _tex(text: str) -> str:
    replacements = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$"}
    return "".join(replacements.get(ch, ch) for ch in text)


def render_latex(report: SignificanceReport, *, digits: int | None = None) -> str:
    """Booktabs `tabular`s: the ranking table, then the list of comparisons.

    Args:
        report: The analysis to render.
        digits: Decimals of the scores (see `render_markdown`).

    Returns:
        LaTeX source ending with a newline; needs `\\usepackage{booktabs}`.
    """
    digits = score_digits(report) if digits is None else digits
    table, ranking = report.table, report.ranking
    correction = _CORRECTION_NAMES[report.correction]
    lines = [
        "\\begin{tabular}{l" + "r" * table.n_systems + "}",
        "\\toprule",
        "Test set & " + " & ".join(_tex(s) for s in table.systems) + " \\\\",
        "\\midrule",
    ]
    for name, row, ranks in zip(table.test_sets, table.scores, ranking.ranks, strict=True):
        best = min(ranks)
        cells = []
        for value, rank in zip(row, ranks, strict=True):
            score = f"{value:.{digits}f}"
            score = f"\\textbf{{{score}}}" if rank == best else score
            cells.append(f"{score} ({format_rank(rank)})")
        lines.append(f"{_tex(name)} & " + " & ".join(cells) + " \\\\")
    lines.append("\\midrule")
    lines.append("Rank sum & " + " & ".join(format_rank(s) for s in ranking.rank_sums) + " \\\\")
    per_column = _per_column_rows(report)
    if per_column is not None:
        differences, pvalues = per_column
        lines.append("Difference & " + " & ".join(f"${d}$" if d else "" for d in differences) + " \\\\")
        lines.append(f"$p$ ({correction}) & " + " & ".join(pvalues) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    if report.comparisons:
        lines += [
            "",
            "\\begin{tabular}{llrrrrr}",
            "\\toprule",
            f"$a$ & $b$ & $R_a$ & $R_b$ & $R_a - R_b$ & $p$ exact & $p$ ({correction}) \\\\",
            "\\midrule",
        ]
        for c in report.comparisons:
            lines.append(
                f"{_tex(c.a)} & {_tex(c.b)} & {format_rank(c.rank_sum_a)} & {format_rank(c.rank_sum_b)} & "
                f"${_signed(c.difference)}$ & {format_p(c.p_exact)} & {format_p(c.p_adjusted)} \\\\"
            )
        lines += ["\\bottomrule", "\\end{tabular}"]
    lines += ["", "% " + _omnibus_sentence(report, latex=True)]
    lines += [f"% Note: {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def render_json(report: SignificanceReport) -> str:
    """One JSON object with `omnibus` and `comparisons` (see `SignificanceReport.to_dict`)."""
    return json.dumps(report.to_dict(), indent=2) + "\n"
