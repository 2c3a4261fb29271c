"""Stored real-benchmark figures for quality reports made without the benchmark's files.

Only aggregate numbers are stored (rates, means, the label distribution, distinct-n and overlap figures at every
grid point of `report.TOKEN_BUDGETS` / `report.SAMPLE_SIZES`), never text. They are computed from the train split
(and the reference classifier's agreement on the test split) by

    python -m erc_synth_datasets.quality.reference meld --data-dir path/to/meld

which writes `erc_synth_datasets/quality/reference/<benchmark>.yaml`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..benchmarks import Benchmark, get_benchmark
from ..files import read_yaml_mapping
from .metrics import Dialogue
from .models import SentenceEncoder, label_agreement, train_reference_classifier
from .report import SAMPLE_SIZES, TOKEN_BUDGETS, QualitySettings, sampled_figures, shape_figures
from .sources import QualitySourceError, load_real_split

__all__ = ["REFERENCE_DIR", "compute_reference", "load_reference", "main", "reference_turns_histogram"]

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


def compute_reference(
    benchmark: Benchmark,
    train: list[Dialogue],
    test: list[Dialogue],
    settings: QualitySettings | None = None,
    *,
    encode: Any = None,
) -> dict[str, Any]:
    """The stored figures of one benchmark (see the module docstring)."""

    settings = settings or QualitySettings()
    shape = shape_figures(train, benchmark, settings)
    by_budget = {
        str(budget): sampled_figures(train, budget=budget, size=None, settings=settings, encode=None)
        for budget in TOKEN_BUDGETS
        if budget <= shape["words"]
    }
    by_size = {
        str(size): sampled_figures(train, budget=None, size=size, settings=settings, encode=encode)
        for size in SAMPLE_SIZES
        if size <= len(train)
    }
    classifier = train_reference_classifier(train, seed=settings.seed)
    return {
        "benchmark": benchmark.name,
        "split": "train",
        "shape": shape,
        "by_budget": by_budget,
        "by_size": by_size,
        "label_fidelity": label_agreement(classifier, test, benchmark.labels),
    }


def load_reference(benchmark: str | Benchmark) -> dict[str, Any] | None:
    """The stored figures of a benchmark, or None when none are stored."""
    benchmark = get_benchmark(benchmark)
    path = REFERENCE_DIR / f"{benchmark.name}.yaml"
    if not path.is_file():
        return None
    return read_yaml_mapping(path, what="Reference figures", error=ValueError)


def reference_turns_histogram(benchmark: str | Benchmark) -> dict[int, int] | None:
    """The real train split's dialogues per number of turns (`shape.turns_histogram` of the stored figures), or None
    when the benchmark has no stored figures. Counts only: generation draws turn counts from it
    (`generation.turns`), so that users need no benchmark files to generate.

    Raises:
        ValueError: the stored histogram is not a mapping of positive turn counts to non-negative counts.
    """
    benchmark = get_benchmark(benchmark)
    reference = load_reference(benchmark)
    if reference is None:
        return None
    stored = (reference.get("shape") or {}).get("turns_histogram")
    path = REFERENCE_DIR / f"{benchmark.name}.yaml"
    if not isinstance(stored, dict) or not stored:
        raise ValueError(f"{path}: shape.turns_histogram must be a non-empty mapping, but got {stored!r}.")
    histogram: dict[int, int] = {}
    for turns, count in stored.items():
        try:
            turns_value, count_value = int(turns), int(count)
        except (TypeError, ValueError):
            turns_value = count_value = -1
        if turns_value < 1 or count_value < 0:
            raise ValueError(
                f"{path}: shape.turns_histogram must map turn counts >= 1 to counts >= 0, but got {turns!r}: "
                f"{count!r}."
            )
        histogram[turns_value] = count_value
    return dict(sorted(histogram.items()))


def main(argv: list[str] | None = None) -> int:
    import yaml

    parser = argparse.ArgumentParser(description="Compute the stored real figures of a benchmark (aggregates only).")
    parser.add_argument("benchmark")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--no-embeddings", action="store_true", help="Skip the embedding figures.")
    args = parser.parse_args(argv)
    benchmark = get_benchmark(args.benchmark)
    try:
        train = load_real_split(benchmark, args.data_dir, "train")
        test = load_real_split(benchmark, args.data_dir, "test")
    except QualitySourceError as err:
        print(f"reference: {err}", file=sys.stderr)
        return 2
    encode = None if args.no_embeddings else SentenceEncoder().encode
    figures = compute_reference(benchmark, train, test, encode=encode)
    REFERENCE_DIR.mkdir(exist_ok=True)
    path = REFERENCE_DIR / f"{benchmark.name}.yaml"
    header = f"# Aggregate figures of the real {benchmark.display_name} train split (no text); regenerate with\n"
    header += f"#   python -m erc_synth_datasets.quality.reference {benchmark.name} --data-dir DIR\n"
    path.write_text(header + yaml.safe_dump(figures, sort_keys=False, allow_unicode=True), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
