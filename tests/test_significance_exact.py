"""The exact distribution of the difference of two Friedman rank sums, against independent oracles."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from fractions import Fraction

import pytest

from trainers.significance.exact import (
    exact_pvalue,
    exact_pvalue_fraction,
    exact_pvalues,
    rank_sum_difference_distribution,
    tail_count,
)


def brute_force_counts(k: int, n: int) -> Counter:
    """D = R_0 - R_1 over every one of the (k!)^n rankings of k systems in n blocks."""
    permutations = list(itertools.permutations(range(1, k + 1)))
    counts: Counter = Counter()
    for blocks in itertools.product(permutations, repeat=n):
        counts[sum(ranks[0] - ranks[1] for ranks in blocks)] += 1
    return counts


def convolution_counts(k: int, n: int) -> dict[int, int]:
    """Direct polynomial convolution of the one-block counts (k - |x| ways for x != 0), n times."""
    block = {x: k - abs(x) for x in range(-(k - 1), k) if x}
    result = {0: 1}
    for _ in range(n):
        step: dict[int, int] = {}
        for s, count in result.items():
            for x, ways in block.items():
                step[s + x] = step.get(s + x, 0) + count * ways
        result = step
    return result


@pytest.mark.parametrize("k,n", [(2, 1), (2, 4), (3, 1), (3, 3), (3, 4), (4, 2), (4, 3), (5, 2)])
def test_distribution_equals_brute_force_enumeration(k, n):
    brute = brute_force_counts(k, n)
    assert sum(brute.values()) == math.factorial(k) ** n
    distribution = rank_sum_difference_distribution(k, n)
    # every (r_a, r_b) outcome stands for (k-2)! orderings of the other systems, in each block
    scale = math.factorial(k - 2) ** n
    for d in range(-n * (k - 1), n * (k - 1) + 1):
        assert distribution.counts[d + n * (k - 1)] * scale == brute.get(d, 0)
        assert tail_count(d, k, n) * scale == sum(c for value, c in brute.items() if value >= d)
        two_sided = Fraction(sum(c for value, c in brute.items() if abs(value) >= abs(d)), math.factorial(k) ** n)
        assert exact_pvalue_fraction(d, k, n) == two_sided
        assert distribution.pvalue(d) == two_sided


def test_closed_form_equals_convolution_for_every_d_at_k9_n9():
    k = n = 9
    reference = convolution_counts(k, n)
    total = (k * (k - 1)) ** n
    assert sum(reference.values()) == total
    distribution = rank_sum_difference_distribution(k, n)
    for d in range(-n * (k - 1) - 1, n * (k - 1) + 2):
        expected_tail = sum(c for value, c in reference.items() if value >= d)
        assert tail_count(d, k, n) == expected_tail, d
        assert distribution.pmf(d) == Fraction(reference.get(d, 0), total), d
    assert sum(distribution.pmf(d) for d in range(-72, 73)) == 1
    assert sum(distribution.counts) == total


@pytest.mark.parametrize("k,n", [(2, 7), (6, 5), (9, 9), (12, 3)])
def test_probabilities_sum_to_one_and_are_symmetric(k, n):
    distribution = rank_sum_difference_distribution(k, n)
    assert sum(distribution.counts) == distribution.total
    assert distribution.counts == distribution.counts[::-1]
    assert distribution.pvalue(0) == 1
    assert distribution.pvalue(n * (k - 1) + 1) == 0
    pvalues = [distribution.pvalue(d) for d in range(n * (k - 1) + 1)]
    assert all(a >= b for a, b in itertools.pairwise(pvalues))


def test_documented_value_for_k100_n100():
    # Eisinga et al. (2017) document P(|D| >= 100) = 0.8085251 for k = n = 100
    assert round(exact_pvalue(100, k=100, n=100), 7) == 0.8085251
    assert exact_pvalue(-100, k=100, n=100) == exact_pvalue(100, k=100, n=100)


def test_closed_form_and_distribution_routes_agree_on_many_differences():
    k, n = 14, 11
    differences = [0, 1, -1, 7, 33, -34, 90, 143, 200, 33]
    closed = exact_pvalues(differences, k, n, method="closed")
    whole = exact_pvalues(differences, k, n, method="distribution")
    assert closed == whole
    assert closed[0] == 1 and closed[-1] == closed[4] and closed[-2] == 0
    assert exact_pvalues(differences, k, n) == closed


def test_mid_rank_differences_round_up_to_the_next_integer():
    k, n = 5, 4
    assert exact_pvalue_fraction(Fraction(5, 2), k, n) == exact_pvalue_fraction(3, k, n)
    assert exact_pvalue_fraction(2.5, k, n) == exact_pvalue_fraction(3, k, n)
    assert exact_pvalue_fraction(-0.5, k, n) == exact_pvalue_fraction(1, k, n)


@pytest.mark.parametrize("k,n", [(1, 3), (3, 0), (2.5, 3), (True, 2)])
def test_invalid_k_or_n_is_rejected_with_the_value(k, n):
    with pytest.raises(ValueError, match="must be an integer"):
        exact_pvalue(1, k, n)
