"""Pairwise comparisons of rank sums: which pairs, their exact p-values, and the multiple-comparison correction.

The correction runs over exactly the comparisons made, so choosing fewer comparisons (each pretrained variant against
its own baseline, as in the source paper) keeps more power than testing all pairs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from erc_synth_datasets.registry import did_you_mean
from erc_synth_datasets.vocabulary import SystemName, Variant
from trainers.significance.errors import ComparisonError
from trainers.significance.exact import exact_pvalues
from trainers.significance.ranking import Ranking

__all__ = [
    "BASELINE_SUFFIX",
    "CORRECTIONS",
    "Comparison",
    "VARIANT_SUFFIXES",
    "adjust_pvalues",
    "all_pairs",
    "compare",
    "control_comparisons",
    "default_comparisons",
    "parse_comparison",
    "select_comparisons",
]

CORRECTIONS = ("bonferroni", "holm", "none")
BASELINE_SUFFIX = Variant.ORG.value
VARIANT_SUFFIXES = tuple(v for v in Variant.values() if v != BASELINE_SUFFIX)


@dataclass(frozen=True)
class Comparison:
    """One pairwise comparison of rank sums.

    Args:
        a: The system tested (for the default comparisons, the pretrained variant).
        b: The system it is compared with (the baseline, or the control).
        rank_sum_a: Rank sum of `a` (1 = best in every block, so smaller is better).
        rank_sum_b: Rank sum of `b`.
        difference: `rank_sum_a - rank_sum_b`; negative when `a` ranks better than `b`.
        p_exact: Exact two-sided p-value of `|difference|` under the null hypothesis without ties.
        p_adjusted: `p_exact` after the multiple-comparison correction over all comparisons made.
    """

    a: str
    b: str
    rank_sum_a: Fraction
    rank_sum_b: Fraction
    difference: Fraction
    p_exact: Fraction
    p_adjusted: Fraction

    def to_dict(self) -> dict[str, str | int | float]:
        """JSON-ready dict: rank sums and difference as int (or float for mid-ranks), p-values as float."""
        return {
            "a": self.a,
            "b": self.b,
            "rank_sum_a": _number(self.rank_sum_a),
            "rank_sum_b": _number(self.rank_sum_b),
            "difference": _number(self.difference),
            "p_exact": float(self.p_exact),
            "p_adjusted": float(self.p_adjusted),
        }


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


def _unknown(name: str, systems: Sequence[str], what: str, source: str | None = None) -> ComparisonError:
    hint = did_you_mean(name, systems)
    where = f"{source}: " if source else ""
    return ComparisonError(
        f"{where}Unknown system {name!r} in {what}.{hint} Available systems (table columns): {', '.join(systems)}."
    )


def parse_comparison(spec: str, systems: Sequence[str], *, source: str | None = None) -> tuple[str, str]:
    """Parse `"A:B"` (compare system A with system B) and check both names.

    Raises:
        ComparisonError: Not of the form `A:B`, an unknown name, or a system compared with itself.
    """
    parts = spec.split(":")
    if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        raise ComparisonError(
            f"A comparison is written A:B (two system names joined by a colon), but got {spec!r}. "
            "Example: --compare compm_natural:compm_org"
        )
    a, b = parts[0].strip(), parts[1].strip()
    for name in (a, b):
        if name not in systems:
            raise _unknown(name, systems, f"--compare {spec!r}", source)
    if a == b:
        raise ComparisonError(f"--compare {spec!r} compares {a!r} with itself; expected two different systems.")
    return a, b


def all_pairs(systems: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair of systems, in column order."""
    return list(itertools.combinations(systems, 2))


def control_comparisons(systems: Sequence[str], control: str, *, source: str | None = None) -> list[tuple[str, str]]:
    """Every other system against one control system."""
    if control not in systems:
        raise _unknown(control, systems, "--control", source)
    return [(name, control) for name in systems if name != control]


def default_comparisons(systems: Sequence[str]) -> list[tuple[str, str]]:
    """Each pretrained `<arch>_<variant>` against every Org of its architecture in the table (`<arch>_org`, and
    `<arch>_org-steps` when present: a variant helps only when it beats the stronger Org), when every name follows
    that pattern.

    Otherwise (or when the pattern yields no pair) every pair of systems.
    """
    names = [SystemName.try_parse(name) for name in systems]
    if all(names):
        orgs = [(system, name) for system, name in zip(systems, names, strict=True) if name.variant.is_org]
        pairs = []
        for system, name in zip(systems, names, strict=True):
            if name.variant.is_org:
                continue
            pairs += [(system, org) for org, org_name in orgs if org_name.architecture == name.architecture]
        if pairs:
            return pairs
    return all_pairs(systems)


def select_comparisons(
    systems: Sequence[str],
    compare: Iterable[str] | None = None,
    control: str | None = None,
    *,
    source: str | None = None,
) -> list[tuple[str, str]]:
    """The comparisons to make: explicit `A:B` specs, one control against all, or the defaults.

    Args:
        systems: Names of the systems in the table.
        compare: `"A:B"` specifications; each pair may appear once (in either order).
        control: A system to compare every other system with.
        source: The table's file, named in errors.

    Raises:
        ComparisonError: Both `compare` and `control` given, an unknown name, or a duplicated pair.
    """
    specs = list(compare or [])
    if specs and control is not None:
        raise ComparisonError(
            f"Give either --compare ({specs}) or --control ({control!r}), not both: the correction runs over the "
            "comparisons made, so they must be one explicit set."
        )
    if control is not None:
        return control_comparisons(systems, control, source=source)
    if not specs:
        return default_comparisons(systems)
    pairs: list[tuple[str, str]] = []
    seen: set[frozenset[str]] = set()
    for spec in specs:
        a, b = parse_comparison(spec, systems, source=source)
        if frozenset((a, b)) in seen:
            raise ComparisonError(
                f"--compare {spec!r} repeats a pair already requested; each pair is tested once (the correction "
                "would otherwise count it twice)."
            )
        seen.add(frozenset((a, b)))
        pairs.append((a, b))
    return pairs


def adjust_pvalues(pvalues: Sequence[Fraction | float], method: str = "bonferroni") -> list[Fraction | float]:
    """Correct p-values for multiple comparisons, over exactly the p-values given.

    Args:
        pvalues: One p-value per comparison made.
        method: `"bonferroni"` (`min(1, m p)`), `"holm"` (step-down: sort ascending, `min(1, (m - i + 1) p_(i))`,
            then a running maximum) or `"none"`.

    Returns:
        Adjusted p-values in input order (exact when the inputs are `Fraction`).
    """
    if method not in CORRECTIONS:
        raise ValueError(f"correction must be one of {list(CORRECTIONS)}, but got {method!r}.")
    m = len(pvalues)
    if method == "none":
        return list(pvalues)
    if method == "bonferroni":
        return [min(1, m * p) for p in pvalues]
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted: list[Fraction | float] = [0] * m
    running: Fraction | float = 0
    for position, index in enumerate(order):
        running = max(running, min(1, (m - position) * pvalues[index]))
        adjusted[index] = running
    return adjusted


def compare(
    ranking: Ranking,
    comparisons: Sequence[tuple[str, str]] | None = None,
    *,
    correction: str = "bonferroni",
    method: str = "auto",
) -> list[Comparison]:
    """Exact pairwise tests of rank sums, corrected over the comparisons made.

    Args:
        ranking: Ranks of the table (see `rank_table`).
        comparisons: `(a, b)` pairs; defaults to `default_comparisons(systems)`.
        correction: `"bonferroni"` (as in the source paper), `"holm"` or `"none"`.
        method: Passed to `exact_pvalues` (`"auto"`, `"closed"` or `"distribution"`).

    Returns:
        One `Comparison` per pair, in the order given.

    Example:
        ```python
        >>> ranking = rank_table(read_table("table.csv"))
        >>> [c.p_adjusted for c in compare(ranking, [("compm_natural", "compm_org")])]
        ```
    """
    systems = ranking.table.systems
    pairs = list(default_comparisons(systems) if comparisons is None else comparisons)
    for a, b in pairs:
        for name in (a, b):
            if name not in systems:
                raise _unknown(name, systems, f"the comparison {a}:{b}", ranking.table.source)
        if a == b:
            raise ComparisonError(f"The comparison {a}:{b} compares a system with itself.")
    k, n = ranking.table.n_systems, ranking.table.n_blocks
    differences = [ranking.rank_sum(a) - ranking.rank_sum(b) for a, b in pairs]
    p_exact = exact_pvalues(differences, k, n, method=method)
    p_adjusted = adjust_pvalues(p_exact, correction)
    return [
        Comparison(a, b, ranking.rank_sum(a), ranking.rank_sum(b), d, Fraction(p), Fraction(q))
        for (a, b), d, p, q in zip(pairs, differences, p_exact, p_adjusted, strict=True)
    ]
