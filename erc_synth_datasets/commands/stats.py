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
    parser.add_argument(
        "source",
        help="A benchmark name (meld, emorynlp, iemocap), a custom benchmark YAML, or a synthetic dataset folder "
        "built by `erc-synth build` (e.g. erc-synth).",
    )
    parser.add_argument(
        "--dataset-config",
        action="append",
        metavar="NAME",
        help="With a dataset folder: the config(s) to describe (repeatable; default: every config).",
    )
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

    if _is_dataset_folder(args.source):
        return _synthetic_main(args)
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


def _is_dataset_folder(source: str) -> bool:
    """A folder with a dataset card (README.md) that lists configs: the output of `erc-synth build`."""
    path = Path(source)
    return path.is_dir() and (path / "README.md").is_file()


def _synthetic_main(args: argparse.Namespace) -> int:
    """Statistics of a synthetic dataset folder, per config: the loaded splits plus the generation's acceptance."""
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    from ..build import BUILD_INFO_NAME
    from ..stats import compute_stats, format_stats, plot_label_distribution

    folder = Path(args.source)
    card_configs = DatasetCard.load(folder / "README.md").data.to_dict().get("configs") or []
    available = [entry.get("config_name") for entry in card_configs]
    wanted = args.dataset_config or available
    unknown = [name for name in wanted if name not in available]
    if unknown or not wanted:
        print(
            f"erc-synth stats: {str(folder)!r} has configs {available}, but got --dataset-config {unknown or wanted}.",
            file=sys.stderr,
        )
        return 2
    results = {}
    for name in wanted:
        stats = {"config": name, **compute_stats(load_dataset(str(folder), name))}
        info_path = folder / name / BUILD_INFO_NAME
        if info_path.is_file():
            runs = json.loads(info_path.read_text(encoding="utf-8"))["runs"]
            accepted = sum(run["counts"].get("accepted", 0) for run in runs)
            attempts = sum(run["counts"].get("attempts", 0) for run in runs)
            stats["generation"] = {
                "runs": len(runs),
                "models": sorted({str(run.get("model")) for run in runs}),
                "accepted": accepted,
                "attempts": attempts,
                "acceptance_rate": round(accepted / attempts, 4) if attempts else None,
            }
        if args.plot:
            target = args.plot if len(wanted) == 1 else args.plot.with_name(f"{args.plot.stem}-{name}.png")
            plot_label_distribution(stats, target, title=f"{name}: label distribution")
        results[name] = stats
    if args.json:
        print(json.dumps(results if len(results) > 1 else next(iter(results.values())), indent=2, ensure_ascii=False))
        return 0
    for name, stats in results.items():
        print(format_stats(stats, title=f"{name} ({folder})"))
        generation = stats.get("generation")
        if generation:
            rate = generation["acceptance_rate"]
            print(
                f"\nGenerated by {', '.join(generation['models'])} in {generation['runs']} run(s): "
                f"{generation['accepted']} of {generation['attempts']} attempts accepted"
                + (f" ({100 * rate:.1f}%)." if rate is not None else ".")
            )
        print()
    return 0
