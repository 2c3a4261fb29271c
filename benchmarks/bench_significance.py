"""Speed of the exact pairwise significance tests, against baselines run in the same process.

For k systems and n blocks (a random scores table, all k(k-1)/2 pairs compared, Bonferroni), it times:

- `analyse`: ranking, Friedman/Iman-Davenport and all exact pairwise p-values, with every cache cleared first;
- `exact_pvalues`: the p-values alone (the part the baselines replace), cold caches; the ratios are against this;
- baseline "naive convolution": the exact distribution by direct polynomial convolution of the one-block counts
  (n times, pure Python integers), then the p-values from it;
- baseline "closed form per comparison": the paper's closed form evaluated once for every comparison, without
  grouping equal |d| and without the whole-distribution route. At k=50, n=100 this takes minutes, so by default it is
  timed on a random sample of comparisons and extrapolated (marked "extrapolated"); `--full` runs it all.

All routes give identical exact p-values; the script checks that before printing ratios.

Usage:
    python benchmarks/bench_significance.py            # k=9 n=9 and k=50 n=100
    python benchmarks/bench_significance.py --full     # no extrapolation (several minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import random
import time
from fractions import Fraction

from trainers.significance import ScoreTable, analyse, exact_pvalue_fraction, exact_pvalues
from trainers.significance import exact as exact_module


def clear_caches() -> None:
    exact_module.tail_count.cache_clear()
    exact_module.rank_sum_difference_distribution.cache_clear()


def random_table(k: int, n: int, seed: int) -> ScoreTable:
    rng = random.Random(seed)
    # a per-system skill plus noise, so rank sums spread out as in a real comparison
    skill = [rng.gauss(0, 1) for _ in range(k)]
    rows = [tuple(s + rng.gauss(0, 1.5) for s in skill) for _ in range(n)]
    return ScoreTable(tuple(f"test_{i}" for i in range(n)), tuple(f"system_{j}" for j in range(k)), tuple(rows))


def naive_convolution_pvalues(differences: list[Fraction], k: int, n: int) -> list[Fraction]:
    block = [(x, k - abs(x)) for x in range(-(k - 1), k) if x]
    counts = {0: 1}
    for _ in range(n):
        step: dict[int, int] = {}
        for s, count in counts.items():
            for x, ways in block:
                step[s + x] = step.get(s + x, 0) + count * ways
        counts = step
    total = (k * (k - 1)) ** n
    out = []
    for d in differences:
        m = exact_module._integer_distance(d)
        out.append(Fraction(sum(c for value, c in counts.items() if abs(value) >= m), total))
    return out


def closed_form_per_comparison(differences: list[Fraction], k: int, n: int) -> list[Fraction]:
    out = []
    for d in differences:
        exact_module.tail_count.cache_clear()  # no reuse between comparisons: the unoptimised formula
        out.append(exact_pvalue_fraction(d, k, n))
    return out


def best_of(repeats: int, function) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        clear_caches()
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def run_case(k: int, n: int, *, full: bool, sample: int, seed: int) -> None:
    table = random_table(k, n, seed)
    pairs = [(table.systems[i], table.systems[j]) for i in range(k) for j in range(i + 1, k)]
    end_to_end, report = best_of(3, lambda: analyse(table, comparisons=pairs, correction="bonferroni"))
    differences = [c.difference for c in report.comparisons]
    expected = [c.p_exact for c in report.comparisons]
    ours, _ = best_of(3, lambda: exact_pvalues(differences, k, n))
    distinct = len({exact_module._integer_distance(d) for d in differences})
    print(f"\nk={k}, n={n}: {len(pairs)} comparisons, {distinct} distinct |d| (best of 3 unless noted)")
    print(f"  analyse (ranks, Friedman, all pairs)  {end_to_end * 1000:10.1f} ms")
    print(f"  exact p-values of all pairs (ours)    {ours * 1000:10.1f} ms   ratio      1.0x")

    cheap = k * n <= 200  # the baselines take seconds to minutes at k=50, n=100: run them once there
    naive_time, naive = best_of(3 if cheap else 1, lambda: naive_convolution_pvalues(differences, k, n))
    if naive != expected:
        raise SystemExit("naive convolution and analyse disagree")
    note = "" if cheap else "  (1 run)"
    ratio = naive_time / ours
    print(f"  baseline naive convolution            {naive_time * 1000:10.1f} ms   ratio {ratio:8.1f}x", note)

    if full or len(differences) <= sample:
        closed_time, closed = best_of(3 if cheap else 1, lambda: closed_form_per_comparison(differences, k, n))
        if closed != expected:
            raise SystemExit("closed form and analyse disagree")
        label = "" if cheap else "  (1 run)"
    else:
        chosen = random.Random(seed).sample(range(len(differences)), sample)
        subset = [differences[i] for i in chosen]
        part_time, closed = best_of(1, lambda: closed_form_per_comparison(subset, k, n))
        if closed != [expected[i] for i in chosen]:
            raise SystemExit("closed form and analyse disagree")
        closed_time = part_time * len(differences) / sample
        label = f"  (extrapolated from {sample} comparisons)"
    ratio = closed_time / ours
    print(f"  baseline closed form per comparison   {closed_time * 1000:10.1f} ms   ratio {ratio:8.1f}x", label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="Run the closed-form baseline on every comparison.")
    parser.add_argument("--sample", type=int, default=40, help="Comparisons timed for the extrapolated baseline.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    analyse(random_table(3, 3, 0))  # import scipy once, outside the timings
    for k, n in [(9, 9), (50, 100)]:
        run_case(k, n, full=args.full, sample=args.sample, seed=args.seed)


if __name__ == "__main__":
    main()
