"""Ranking, the omnibus tests, comparison selection, corrections and table reading."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from trainers.significance import (
    ComparisonError,
    ScoreTable,
    TableError,
    adjust_pvalues,
    analyse,
    compare,
    default_comparisons,
    exact_pvalue_fraction,
    friedman_test,
    rank_row,
    rank_table,
    read_table,
    select_comparisons,
)
from trainers.significance.exact import tail_count
from trainers.significance.plot import critical_difference


def table_of(rows, systems=None) -> ScoreTable:
    systems = systems or [f"s{j}" for j in range(len(rows[0]))]
    return ScoreTable(tuple(f"t{i}" for i in range(len(rows))), tuple(systems), tuple(tuple(r) for r in rows))


def test_rank_row_gives_one_to_the_best_and_mid_ranks_to_ties():
    assert rank_row([0.7, 0.9, 0.7, 0.1]) == [Fraction(5, 2), 1, Fraction(5, 2), 4]
    assert rank_row([0.7, 0.9, 0.7, 0.1], higher_is_better=False) == [Fraction(5, 2), 4, Fraction(5, 2), 1]
    assert rank_row([3, 3, 3]) == [2, 2, 2]


def test_rank_table_sums_and_tie_groups():
    ranking = rank_table(table_of([[1, 2, 3], [5, 5, 4], [9, 8, 7]]))
    assert ranking.ranks[1] == (Fraction(3, 2), Fraction(3, 2), 3)
    assert ranking.rank_sums == (Fraction(11, 2), Fraction(11, 2), 7)
    assert sum(ranking.rank_sums) == 3 * 3 * 4 / 2
    assert ranking.tie_groups == ((), (2,), ())
    assert ranking.has_ties
    assert ranking.average_ranks == pytest.approx((11 / 6, 11 / 6, 7 / 3))


def test_friedman_statistic_equals_scipy_on_random_tables():
    rng = np.random.default_rng(7)
    for trial in range(40):
        k = int(rng.integers(3, 9))
        n = int(rng.integers(2, 12))
        # half the tables are rounded to few values, so they carry ties
        data = rng.normal(size=(n, k)) if trial % 2 else rng.integers(0, 4, size=(n, k)).astype(float)
        if np.all(data == data[:, :1]):
            continue
        result = friedman_test(table_of(data.tolist()))
        reference = stats.friedmanchisquare(*data.T)
        assert result.chi2 == pytest.approx(reference.statistic, rel=1e-10, abs=1e-12)
        assert result.p_chi2 == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-15)
        assert result.df == k - 1


def test_iman_davenport_matches_its_formula_and_scipy_f():
    data = [[0.61, 0.62, 0.64, 0.58], [0.35, 0.34, 0.36, 0.30], [0.50, 0.52, 0.51, 0.49], [0.7, 0.72, 0.74, 0.69]]
    result = friedman_test(table_of(data))
    k, n = 4, 4
    expected_f = (n - 1) * result.chi2 / (n * (k - 1) - result.chi2)
    assert result.f == pytest.approx(expected_f)
    assert (result.df1, result.df2) == (3, 9)
    assert result.p_f == pytest.approx(stats.f.sf(expected_f, 3, 9))
    perfect = friedman_test(table_of([[1, 2, 3], [1, 2, 3], [1, 2, 3]]))
    assert perfect.chi2 == pytest.approx(6.0) and perfect.f == float("inf") and perfect.p_f == 0.0


def test_friedman_works_for_two_systems_and_one_block():
    two = friedman_test(table_of([[1, 2], [2, 3], [4, 3]]))
    assert two.chi2 == pytest.approx(1 / 3)  # sign-test form: (wins - losses)^2 / n = (2 - 1)^2 / 3
    one = friedman_test(table_of([[1, 2, 3]]))
    assert one.f is None and one.p_f is None


def test_lower_is_better_reverses_ranks_not_the_statistic():
    data = [[0.2, 0.1, 0.3], [0.5, 0.4, 0.45], [0.9, 0.8, 0.7]]
    up, down = rank_table(table_of(data)), rank_table(table_of(data), higher_is_better=False)
    assert up.rank_sums == (4, 8, 6) and down.rank_sums == (8, 4, 6)
    assert friedman_test(up).chi2 == pytest.approx(friedman_test(down).chi2)


def test_default_comparisons_follow_the_variant_pattern_else_all_pairs():
    systems = ["a_org", "a_natural", "a_balanced", "b_org", "b_natural", "b_balanced"]
    assert default_comparisons(systems) == [
        ("a_natural", "a_org"),
        ("a_balanced", "a_org"),
        ("b_natural", "b_org"),
        ("b_balanced", "b_org"),
    ]
    assert default_comparisons(["x", "y", "z"]) == [("x", "y"), ("x", "z"), ("y", "z")]
    assert default_comparisons(["a_org", "a_natural", "other"]) == [
        ("a_org", "a_natural"),
        ("a_org", "other"),
        ("a_natural", "other"),
    ]
    assert select_comparisons(["x", "y", "z"], control="y") == [("x", "y"), ("z", "y")]
    assert select_comparisons(["x", "y", "z"], ["z:x"]) == [("z", "x")]


@pytest.mark.parametrize(
    "specs,control,message",
    [
        (["x:w"], None, "Unknown system 'w'"),
        (["x"], None, "written A:B"),
        (["x:x"], None, "with itself"),
        (["x:y", "y:x"], None, "repeats a pair"),
        (["x:y"], "z", "not both"),
        ([], "zz", r"Unknown system 'zz'.*Did you mean 'z'"),
    ],
)
def test_bad_comparisons_raise_typed_errors(specs, control, message):
    with pytest.raises(ComparisonError, match=message):
        select_comparisons(["x", "y", "z"], specs, control)


def test_bonferroni_and_holm_adjust_over_the_comparisons_made():
    ps = [Fraction(1, 100), Fraction(4, 100), Fraction(3, 100), Fraction(1, 2)]
    assert adjust_pvalues(ps, "bonferroni") == [Fraction(4, 100), Fraction(16, 100), Fraction(12, 100), 1]
    # Holm: sorted 0.01, 0.03, 0.04, 0.5 -> 0.04, 0.09, 0.09 (running max of 0.08), 0.5
    assert adjust_pvalues(ps, "holm") == [Fraction(4, 100), Fraction(9, 100), Fraction(9, 100), Fraction(1, 2)]
    assert adjust_pvalues(ps, "none") == ps
    with pytest.raises(ValueError, match="correction must be one of"):
        adjust_pvalues(ps, "sidak")


def test_compare_gives_exact_and_adjusted_pvalues():
    data = [[1, 2, 3, 4], [1, 3, 2, 4], [2, 1, 3, 4], [1, 2, 4, 3], [1, 2, 3, 4]]
    ranking = rank_table(table_of(data), higher_is_better=False)
    results = compare(ranking, [("s3", "s0"), ("s1", "s0")], correction="bonferroni")
    assert [(c.rank_sum_a, c.rank_sum_b, c.difference) for c in results] == [(19, 6, 13), (10, 6, 4)]
    assert results[0].p_exact == exact_pvalue_fraction(13, 4, 5)
    assert results[0].p_adjusted == min(1, 2 * results[0].p_exact)
    holm = compare(ranking, [("s3", "s0"), ("s1", "s0")], correction="holm")
    assert holm[0].p_adjusted == 2 * holm[0].p_exact and holm[1].p_adjusted == max(holm[1].p_exact, holm[0].p_adjusted)


def test_analyse_notes_ties():
    report = analyse(table_of([[1, 1, 2], [3, 2, 1]]))
    assert report.ranking.has_ties and "assume no ties" in report.notes[0]
    assert not analyse(table_of([[1, 3, 2], [3, 2, 1]])).notes


def test_critical_difference_is_the_smallest_significant_difference():
    k, n, m = 9, 9, 6
    d_star = critical_difference(k, n, alpha=0.05, comparisons=m)
    total = (k * (k - 1)) ** n
    assert m * Fraction(2 * tail_count(d_star, k, n), total) <= Fraction(1, 20)
    assert m * Fraction(2 * tail_count(d_star - 1, k, n), total) > Fraction(1, 20)
    assert critical_difference(3, 1, alpha=0.05) is None


def test_score_table_rejects_non_numbers_and_nan():
    with pytest.raises(TableError, match="must be a number"):
        ScoreTable(("t",), ("a", "b"), (("x", 1.0),))
    with pytest.raises(TableError, match=r"row 't', column 'b' holds nan"):
        ScoreTable(("t",), ("a", "b"), ((0.5, float("nan")),))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda k: st.lists(st.lists(st.integers(0, 5), min_size=k, max_size=k), min_size=1, max_size=6)
    ),
    st.sampled_from(["bonferroni", "holm"]),
)
def test_compare_properties_on_random_tables(rows, correction):
    table = table_of(rows)
    ranking = rank_table(table)
    k, n = table.n_systems, table.n_blocks
    assert sum(ranking.rank_sums) == Fraction(n * k * (k + 1), 2)
    results = compare(ranking, [(a, b) for a in table.systems for b in table.systems if a < b], correction=correction)
    bonferroni = adjust_pvalues([c.p_exact for c in results], "bonferroni")
    for comparison, upper in zip(results, bonferroni, strict=True):
        assert 0 < comparison.p_exact <= 1
        assert comparison.p_exact <= comparison.p_adjusted <= upper
        assert comparison.p_exact == exact_pvalue_fraction(comparison.difference, k, n)


def write(tmp_path, text, name="table.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_wide_and_long_tables(tmp_path):
    wide = read_table(write(tmp_path, "test_set,a,b\nt1,0.5,0.6\nt2,0.7,0.65\n"))
    assert wide.systems == ("a", "b") and wide.scores == ((0.5, 0.6), (0.7, 0.65))
    long_text = "test_set,variant,seed,score\nt1,a,1,0.5\nt1,a,2,0.7\nt1,b,1,0.6\nt1,b,2,0.4\nt2,a,1,1\nt2,b,1,2\n"
    mean = read_table(write(tmp_path, long_text, "long.csv"))
    assert mean.test_sets == ("t1", "t2") and mean.scores == ((0.6, 0.5), (1.0, 2.0))
    blocks = read_table(tmp_path / "long.csv", seeds="blocks")
    assert blocks.test_sets == ("t1@seed=1", "t1@seed=2", "t2@seed=1")
    assert blocks.scores == ((0.5, 0.6), (0.7, 0.4), (1.0, 2.0))


@pytest.mark.parametrize(
    "text,message",
    [
        ("test_set,a,b\nt1,0.5,\n", r"line 2, column 'b': the value is missing"),
        ("test_set,a,b\nt1,0.5,high\n", r"line 2, column 'b': 'high' is not a number"),
        ("test_set,a\nt1,0.5\n", "at least 2 systems"),
        ("dataset,a,b\nt1,0.5,0.6\n", "expected `test_set`"),
        ("test_set,a,b\nt1,0.5,0.6,0.7\n", "line 2: got 4 cells"),
        ("test_set,a,a\nt1,0.5,0.6\n", "'a' appears more than once"),
        ("test_set,a,b\n", "no rows"),
        ("", "empty"),
        ("test_set,variant,seed,score\nt1,a,1,0.5\nt1,b,2,0.6\n", "seeds='blocks'"),
        ("test_set,variant,seed,score\n", "per-seed table has no rows"),
        (
            "test_set,variant,seed,score\nt1,a,1,0.5\nt1,a,1,0.6\n",
            "line 3: test_set='t1', variant='a', seed='1' appears twice",
        ),
    ],
)
def test_bad_tables_raise_typed_errors_naming_file_and_place(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(TableError, match=message) as info:
        read_table(path, seeds="blocks" if "variant" in text else "mean")
    assert str(path) in str(info.value)
