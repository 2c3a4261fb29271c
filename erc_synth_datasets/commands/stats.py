"""`erc-synth stats`: per-split statistics of a real benchmark folder or a synthetic dataset."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

__all__ = ["default_data_dir", "main", "make_parser"]

DATA_DIR_ENV = "ERC_SYNTH_DATA_DIR"


def default_data_dir(benchmark: str) -> Path | None:
    """`$ERC_SYNTH_DATA_DIR/<benchmark>` when that variable is set, else None."""
    root = os.environ.get(DATA_DIR_ENV)
    return Path(root) / benchmark if root else None


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erc-synth stats",
        description="Per split: dialogues, utterances, mean turns per dialogue, speakers and the label distribution.",
        epilog="Example: erc-synth stats meld --data-dir ../shared/data/meld --plot meld.png",
    )
    parser.add_argument("source", help="A benchmark name (meld, emorynlp, iemocap) or a custom benchmark YAML.")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=f"Folder with the benchmark's files (default: ${DATA_DIR_ENV}/<benchmark> when that variable is set).",
    )
    parser.add_argument("--format", default="auto", help="File format to read (auto picks per split).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a Markdown table.")
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="Draw the label distribution per split.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    from ..benchmarks import BenchmarkError, get_benchmark
    from ..loaders import DataFileError, load_benchmark
    from ..stats import compute_stats, format_stats, plot_label_distribution

    try:
        benchmark = get_benchmark(args.source)
        data_dir = args.data_dir or default_data_dir(benchmark.name)
        if data_dir is None:
            print(f"erc-synth stats: give --data-dir (or set ${DATA_DIR_ENV}).", file=sys.stderr)
            return 2
        dataset, report = load_benchmark(benchmark, data_dir, format=args.format, return_report=True)
    except (BenchmarkError, DataFileError) as err:
        print(f"erc-synth stats: {err}", file=sys.stderr)
        return 2
    stats = {"benchmark": benchmark.name, **compute_stats(dataset), "report": report.to_dict()}
    if args.plot:
        plot_label_distribution(stats, args.plot, title=f"{benchmark.display_name}: label distribution")
    if args.json:
        print(json.dumps(stats, indent=2, ensure_ascii=False))
    else:
        print(format_stats(stats, title=f"{benchmark.display_name} ({data_dir})"))
        print()
        print(report.summary())
        if args.plot:
            print(f"\nPlot written to {args.plot}")
    return 0
