"""Stored real-benchmark figures for quality reports made without the benchmark's files.

Only aggregate numbers are stored (rates, means, the label distribution, distinct-n and overlap figures at every
grid point of `report.TOKEN_BUDGETS` / `report.SAMPLE_SIZES`), never text. They are computed from the train split
(and the reference classifier's agreement on the test split) by

    python -m erc_synth_datasets.quality.reference meld --data-dir path/to/meld

which writes the benchmark's reference file (`reference:` of its definition: `reference.yaml` in a built-in
benchmark's folder, `erc_synth_datasets/builtin_benchmarks/<name>/`; `<stem>.reference.yaml` beside a custom
benchmark's YAML) and its turns histogram (`erc_synth_datasets.turn_histogram`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..benchmarks import Benchmark, get_benchmark
from ..files import read_yaml_mapping, write_text_atomic
from ..turn_histogram import source_fingerprint, write_turns_histogram
from ..vocabulary import Split
from .metrics import Dialogue
from .models import SentenceEncoder, label_agreement, train_reference_classifier
from .report import SAMPLE_SIZES, TOKEN_BUDGETS, QualitySettings, sampled_figures, shape_figures
from .sources import QualitySourceError, load_real_split

__all__ = ["compute_reference", "load_reference", "main"]


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
        "split": Split.TRAIN.value,
        "shape": shape,
        "by_budget": by_budget,
        "by_size": by_size,
        "label_fidelity": label_agreement(classifier, test, benchmark.labels),
    }


def load_reference(benchmark: str | Benchmark) -> dict[str, Any] | None:
    """The stored figures of a benchmark (its definition's `reference` file), or None when none are stored."""
    benchmark = get_benchmark(benchmark)
    path = benchmark.files.reference if benchmark.files is not None else None
    if path is None or not path.is_file():
        return None
    return read_yaml_mapping(path, what="Reference figures", error=ValueError)


def main(argv: list[str] | None = None) -> int:
    import yaml

    parser = argparse.ArgumentParser(description="Compute the stored real figures of a benchmark (aggregates only).")
    parser.add_argument("benchmark")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--no-embeddings", action="store_true", help="Skip the embedding figures.")
    args = parser.parse_args(argv)
    benchmark = get_benchmark(args.benchmark)
    try:
        train = load_real_split(benchmark, args.data_dir, Split.TRAIN)
        test = load_real_split(benchmark, args.data_dir, Split.TEST)
    except QualitySourceError as err:
        print(f"reference: {err}", file=sys.stderr)
        return 2
    if benchmark.files is None:
        print(f"reference: benchmark {benchmark.name!r} has no definition file to write beside.", file=sys.stderr)
        return 2
    encode = None if args.no_embeddings else SentenceEncoder().encode
    figures = compute_reference(benchmark, train, test, encode=encode)
    path = benchmark.files.reference
    header = f"# Aggregate figures of the real {benchmark.display_name} train split (no text); regenerate with\n"
    header += f"#   python -m erc_synth_datasets.quality.reference {benchmark.name} --data-dir DIR\n"
    write_text_atomic(path, header + yaml.safe_dump(figures, sort_keys=False, allow_unicode=True))
    # A shipped histogram has no source; a generic benchmark's records the files it came from (turn_histogram).
    source = source_fingerprint(benchmark, args.data_dir) if benchmark.data is not None else None
    turns = write_turns_histogram(benchmark, figures["shape"]["turns_histogram"], source=source)
    print(f"wrote {path} and {turns}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
