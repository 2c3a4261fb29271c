"""Exact null distribution of the difference of two Friedman rank sums, after Eisinga, Heskes, Pelzer and
Te Grotenhuis (2017), "Exact p-values for pairwise comparison of Friedman rank sums, with application to comparing
classifiers", BMC Bioinformatics 18:68.

Under the null hypothesis and without ties, each of the `n` blocks ranks the `k` systems by a uniformly random
permutation. The ranks `(r_a, r_b)` of two given systems in one block are then a uniformly random ordered pair of
distinct values in `1..k`, so `X = r_a - r_b` takes the value `x != 0` in `k - |x|` of the `k(k - 1)` equally likely
cases. The rank sum difference `D = R_a - R_b` is the sum of `n` independent copies of `X`, and its counting
generating function is

    C(t)^n,   C(t) = t^-(k-1) S(t)^2 - k,   S(t) = 1 + t + ... + t^(k-1) = (1 - t^k) / (1 - t).

Expanding `C(t)^n` binomially over `h` (the number of factors that contribute `S(t)^2`) and the coefficients of
`S(t)^(2h)` by inclusion-exclusion gives the closed form of the paper for the upper tail:

    #{D >= d} = sum_{h=0..n} binom(n, h) (-k)^(n-h) sum_{i>=0} (-1)^i binom(2h, i) binom(k(h-i) + h - d, 2h),

where the inner sum runs while `k(h-i) + h - d >= 2h`, out of `(k(k-1))^n` equally likely outcomes. The two-sided
p-value of an observed `d != 0` is `P(|D| >= |d|) = 2 #{D >= |d|} / (k(k-1))^n` (the distribution is symmetric), and 1
for `d = 0`.

Everything here is exact integer arithmetic (Python integers, `fractions.Fraction`); floats only appear when a
caller converts the final probability. Two routes give the same numbers:

- `tail_count(d, k, n)`: the closed form for one `d`; about `n^2 / 2` pairs of binomials, no matter how large `d` is;
- `rank_sum_difference_distribution(k, n)`: the whole distribution once per `(k, n)`, by multiplying the polynomial
  `C(t)` into itself `n` times with prefix sums (multiplying by `S(t)` is a running sum after subtracting a copy
  shifted by `k`), i.e. `O(n^2 k)` big-integer additions; all tails follow by one cumulative sum.

`exact_pvalues` picks the cheaper route for a set of observed differences; both are cached.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from numbers import Real

__all__ = [
    "RankSumDifferenceDistribution",
    "exact_pvalue",
    "exact_pvalue_fraction",
    "exact_pvalues",
    "rank_sum_difference_distribution",
    "tail_count",
]


def _check_kn(k: int, n: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k (the number of systems) must be an integer >= 2, but got k={k!r}.")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (the number of blocks) must be an integer >= 1, but got n={n!r}.")


def _integer_distance(d: Real | Fraction | int) -> int:
    """The smallest integer `m >= |d|`: `P(|D| >= d) = P(|D| >= m)` because `D` is an integer without ties.

    Rank sums with mid-ranks (ties) are multiples of 1/2; the tolerance absorbs float noise in such inputs.
    """
    if isinstance(d, int):
        return abs(d)
    if isinstance(d, Fraction):
        return math.ceil(abs(d))
    value = abs(float(d))
    if not math.isfinite(value):
        raise ValueError(f"d must be a finite number, but got d={d!r}.")
    return math.ceil(value - 1e-9)


@functools.lru_cache(maxsize=4096)
def tail_count(d: int, k: int, n: int) -> int:
    """Number of the `(k(k-1))^n` equally likely outcomes with `D >= d`, by the closed form (module docstring).

    Args:
        d: Integer threshold (any sign).
        k: Number of systems, at least 2.
        n: Number of blocks, at least 1.

    Returns:
        The exact count; divide by `(k * (k - 1)) ** n` for the probability.
    """
    _check_kn(k, n)
    if isinstance(d, bool) or not isinstance(d, int):
        raise ValueError(f"d must be an integer, but got d={d!r}.")
    total = (k * (k - 1)) ** n
    if d <= 0:
        # symmetry: #{D >= d} = total - #{D <= d - 1} = total - #{D >= 1 - d}
        return total - tail_count(1 - d, k, n)
    if d > n * (k - 1):
        return 0
    count = 0
    for h in range(n + 1):
        inner = 0
        for i in range(h + 1):
            top = k * (h - i) + h - d
            if top < 2 * h:
                break
            term = math.comb(2 * h, i) * math.comb(top, 2 * h)
            inner += -term if i & 1 else term
        if inner:
            count += math.comb(n, h) * (-k) ** (n - h) * inner
    return count


@dataclass(frozen=True)
class RankSumDifferenceDistribution:
    """The whole exact null distribution of `D = R_a - R_b` for `k` systems and `n` blocks (no ties).

    Args:
        k: Number of systems.
        n: Number of blocks.
        counts: `counts[d + n(k-1)]` is the number of outcomes with `D = d`, for `d` in `-n(k-1)..n(k-1)`.
        upper_tails: `upper_tails[d]` is the number of outcomes with `D >= d`, for `d` in `0..n(k-1)`.
    """

    k: int
    n: int
    counts: tuple[int, ...]
    upper_tails: tuple[int, ...]

    @property
    def total(self) -> int:
        """Number of equally likely outcomes, `(k(k-1))^n`."""
        return (self.k * (self.k - 1)) ** self.n

    @property
    def max_difference(self) -> int:
        """Largest possible `|D|`, `n(k-1)`."""
        return self.n * (self.k - 1)

    def pmf(self, d: int) -> Fraction:
        """`P(D = d)`, exact."""
        if abs(d) > self.max_difference:
            return Fraction(0)
        return Fraction(self.counts[d + self.max_difference], self.total)

    def pvalue(self, d: Real | Fraction | int) -> Fraction:
        """Two-sided `P(|D| >= |d|)`, exact."""
        m = _integer_distance(d)
        if m == 0:
            return Fraction(1)
        if m > self.max_difference:
            return Fraction(0)
        return Fraction(2 * self.upper_tails[m], self.total)


@functools.lru_cache(maxsize=8)
def rank_sum_difference_distribution(k: int, n: int) -> RankSumDifferenceDistribution:
    """Compute (and cache) the whole exact distribution of the rank sum difference for `k` systems, `n` blocks.

    Args:
        k: Number of systems, at least 2.
        n: Number of blocks, at least 1.

    Returns:
        A `RankSumDifferenceDistribution`; its counts sum to `(k(k-1))^n`.
    """
    import numpy as np

    _check_kn(k, n)
    # object arrays hold Python integers: numpy only runs the loops, every sum stays exact
    poly = np.array([1], dtype=object)  # coefficients of C(t)^m shifted by m(k-1), for m = 0..n
    for _ in range(n):
        product = poly
        for _ in range(2):  # multiply by S(t) = (1 - t^k) / (1 - t) twice
            shifted = np.zeros(len(product) + k - 1, dtype=object)
            shifted[: len(product)] = product
            shifted[k:] -= product[: len(shifted) - k]
            product = np.cumsum(shifted)
        product[k - 1 : k - 1 + len(poly)] -= k * poly  # the "- k" of C(t), centred
        poly = product
    counts = tuple(poly.tolist())
    middle = n * (k - 1)
    upper = [0] * (middle + 2)
    for d in range(middle, -1, -1):
        upper[d] = upper[d + 1] + counts[middle + d]
    return RankSumDifferenceDistribution(k=k, n=n, counts=counts, upper_tails=tuple(upper[: middle + 1]))


def exact_pvalue_fraction(d: Real | Fraction | int, k: int, n: int) -> Fraction:
    """Exact two-sided p-value `P(|D| >= |d|)` of a rank sum difference, as a `Fraction`.

    Args:
        d: Observed difference of two rank sums (a non-integer, from mid-ranks, is rounded up in absolute value).
        k: Number of systems, at least 2.
        n: Number of blocks, at least 1.

    Returns:
        The p-value as an exact fraction.
    """
    _check_kn(k, n)
    m = _integer_distance(d)
    if m == 0:
        return Fraction(1)
    return Fraction(2 * tail_count(m, k, n), (k * (k - 1)) ** n)


def exact_pvalue(d: Real | Fraction | int, k: int, n: int) -> float:
    """Exact two-sided p-value `P(|D| >= |d|)` of a rank sum difference, rounded to a float at the very end.

    Args:
        d: Observed difference of two rank sums.
        k: Number of systems, at least 2.
        n: Number of blocks, at least 1.

    Returns:
        The p-value.

    Example:
        ```python
        >>> round(exact_pvalue(100, k=100, n=100), 7)  # documented by Eisinga et al. (2017)
        0.8085251
        ```
    """
    return float(exact_pvalue_fraction(d, k, n))


def exact_pvalues(
    differences: Iterable[Real | Fraction | int], k: int, n: int, *, method: str = "auto"
) -> list[Fraction]:
    """Exact two-sided p-values for many observed differences with the same `k` and `n`.

    The p-value depends only on `|d|`, `k` and `n`, so each distinct `|d|` is computed once.

    Args:
        differences: Observed rank sum differences.
        k: Number of systems.
        n: Number of blocks.
        method: `"closed"` (closed form per distinct `|d|`), `"distribution"` (whole distribution once) or `"auto"`
            (the closed form when only a few distinct `|d|` are needed relative to `k`, else the distribution).

    Returns:
        One exact p-value per difference, in input order.
    """
    _check_kn(k, n)
    if method not in ("auto", "closed", "distribution"):
        raise ValueError(f"method must be 'auto', 'closed' or 'distribution', but got method={method!r}.")
    values = list(differences)
    distances = [_integer_distance(d) for d in values]
    needed = {m for m in distances if m}
    if method == "auto":
        # measured on 2 cores: one closed-form tail costs about 20 / k of the whole distribution
        method = "closed" if 20 * len(needed) <= k else "distribution"
    if method == "closed":
        cache = {m: exact_pvalue_fraction(m, k, n) for m in needed}
    else:
        distribution = rank_sum_difference_distribution(k, n)
        cache = {m: distribution.pvalue(m) for m in needed}
    return [cache[m] if m else Fraction(1) for m in distances]
