"""`erc-synth stats`: per-split statistics of a real benchmark folder or a synthetic dataset."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.build import read_config_build
from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser
from erc_synth_datasets.plots import check_image_path
from erc_synth_datasets.stats import (
    StatsError,
    benchmark_stats,
    dataset_folder_configs,
    format_generation,
    format_stats,
    is_dataset_folder,
    plot_label_distribution,
    real_data_folder,
    synthetic_stats,
)
from erc_synth_datasets.vocabulary import BUILD_INFO_NAME

__all__ = ["StatsOptions", "main", "make_parser"]

PROG = "erc-synth stats"


@dataclass
class StatsOptions:
    """Options of `erc-synth stats`."""

    source: str = field(
        metadata={
            "help": "A benchmark name (meld, emorynlp, iemocap), a custom benchmark YAML, or a synthetic dataset "
            "folder built by `erc-synth build` (e.g. erc-synth).",
            "positional": True,
        }
    )
    dataset_config: list[str] = field(
        default_factory=list,
        metadata={
            "help": "With a dataset folder: the config(s) to describe (default: every config).",
            "metavar": "NAME",
        },
    )
    data_dir: Path | None = field(
        default=None,
        metadata={"help": "Folder with the benchmark's files (default: $ERC_SYNTH_DATA_DIR/<benchmark> when set)."},
    )
    format: str = field(
        default="auto",
        metadata={"help": "File format to read: auto (picks per split), generic (docs/benchmarks.md) or a release's."},
    )
    json: bool = field(default=False, metadata={"help": "Print one JSON object instead of a Markdown table."})
    plot: Path | None = field(
        default=None,
        metadata={
            "help": "Draw the label distribution per split into this image (the suffix chooses the format).",
            "metavar": "FILE.png",
        },
    )

    def __post_init__(self) -> None:
        if self.plot is not None:
            check_image_path(self.plot, "--plot")


def make_parser() -> OptionParser:
    return OptionParser(
        StatsOptions,
        prog=PROG,
        description="Per split: dialogues, utterances, mean turns per dialogue, speakers and the label distribution.",
        epilog="Example: erc-synth stats meld --data-dir ../shared/data/meld --plot meld.png",
    )


@reports_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    (options,) = make_parser().parse(argv)
    if is_dataset_folder(options.source):
        return _synthetic(options)
    return _real(options)


def _real(options: StatsOptions) -> int:
    benchmark = get_benchmark(options.source)
    stats, report = benchmark_stats(benchmark, options.data_dir, format=options.format)
    if options.plot:
        plot_label_distribution(stats, options.plot, title=f"{benchmark.display_name}: label distribution")
    if options.json:
        print(json.dumps(stats, indent=2, ensure_ascii=False))
        return 0
    print(format_stats(stats, title=f"{benchmark.display_name} ({real_data_folder(benchmark, options.data_dir)})"))
    print()
    print(report.summary())
    if options.plot:
        print(f"\nPlot written to {options.plot}")
    return 0


def _synthetic(options: StatsOptions) -> int:
    """Statistics of a synthetic dataset folder, per config: the loaded splits plus the generation's acceptance."""
    folder = Path(options.source)
    available = dataset_folder_configs(folder)
    wanted = options.dataset_config or available
    unknown = [name for name in wanted if name not in available]
    if unknown or not wanted:
        raise StatsError(f"{str(folder)!r} has configs {available}, but got --dataset-config {unknown or wanted}.")
    # Every build record is read (strictly) before any config is loaded.
    builds = {
        name: read_config_build(folder, name) if (folder / name / BUILD_INFO_NAME).is_file() else None
        for name in wanted
    }
    results = {name: synthetic_stats(folder, name, built=builds[name]) for name in wanted}
    if options.plot:
        for name, stats in results.items():
            plot = options.plot
            target = plot if len(wanted) == 1 else plot.with_name(f"{plot.stem}-{name}{plot.suffix}")
            plot_label_distribution(stats, target, title=f"{name}: label distribution")
    if options.json:
        single = next(iter(results.values()))
        print(json.dumps(results if len(results) > 1 else single, indent=2, ensure_ascii=False))
        return 0
    for name, stats in results.items():
        print(format_stats(stats, title=f"{name} ({folder})"))
        if stats.get("generation"):
            print("\n" + format_generation(stats["generation"]))
        print()
    return 0
