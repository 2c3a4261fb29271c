"""`erc-synth significance`: Friedman ranks, omnibus tests and exact pairwise p-values for a table of scores."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser
from erc_synth_datasets.plots import check_image_path
from trainers.significance import analyse, read_table, render_json, render_latex, render_markdown
from trainers.significance.plot import plot_cd_diagram

__all__ = ["SignificanceArguments", "main", "make_parser"]


@dataclass
class SignificanceArguments:
    """Options of `erc-synth significance` (one field per command-line flag)."""

    table: Path = field(
        metadata={
            "help": "CSV of scores: `test_set` then one column per system (table.csv), or the per-seed long table "
            "with columns test_set,variant,seed,score (table_per_seed.csv).",
            "positional": True,
        }
    )
    compare: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Comparisons A:B (test system A against system B), e.g. compm_natural:compm_org. Default: each "
            "<arch>_natural and <arch>_balanced against <arch>_org when every name follows that pattern, else "
            "all pairs.",
            "metavar": "A:B",
        },
    )
    control: str | None = field(default=None, metadata={"help": "Compare every other system with this one."})
    correction: Literal["bonferroni", "holm", "none"] = field(
        default="bonferroni", metadata={"help": "Multiple-comparison correction over the comparisons made."}
    )
    lower_is_better: bool = field(
        default=False, metadata={"help": "Lower scores are better (losses, error rates); default: higher is better."}
    )
    seeds: Literal["mean", "blocks"] = field(
        default="mean",
        metadata={
            "help": "Per-seed tables: `mean` averages each variant over its seeds (blocks = test sets); `blocks` "
            "makes every (test set, seed) pair a block."
        },
    )
    json: bool = field(default=False, metadata={"help": "Print one JSON object (omnibus, comparisons)."})
    latex: bool = field(default=False, metadata={"help": "Print a LaTeX (booktabs) table instead of Markdown."})
    digits: int | None = field(
        default=None,
        metadata={"range": "[0, 12]", "help": "Decimals of the scores (default: 2 for percentages, 4 for fractions)."},
    )
    plot: Path | None = field(
        default=None, metadata={"help": "Write a critical-difference diagram to this image.", "metavar": "FILE.png"}
    )
    alpha: float = field(
        default=0.05, metadata={"range": "(0, 1)", "help": "Significance level of the diagram's critical difference."}
    )

    def __post_init__(self) -> None:
        if self.json and self.latex:
            raise ConfigError("--json and --latex each choose the output format; give at most one of them.")
        if self.plot is not None:
            check_image_path(self.plot, "--plot")


PROG = "erc-synth significance"


def make_parser() -> OptionParser:
    return OptionParser(
        SignificanceArguments,
        prog=PROG,
        description="Rank systems within each test set (1 = best), sum the ranks, run the Friedman and "
        "Iman-Davenport tests, and give exact p-values for differences of rank sums (Eisinga et al., 2017) with "
        "Bonferroni or Holm correction over the comparisons made.",
        epilog="Example: erc-synth significance runs/experiment/table.csv --correction holm --plot cd.png",
    )


@reports_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    (args,) = make_parser().parse(argv)
    table = read_table(args.table, seeds=args.seeds)
    report = analyse(
        table,
        compare_specs=args.compare,
        control=args.control,
        correction=args.correction,
        higher_is_better=not args.lower_is_better,
    )
    if args.json:
        sys.stdout.write(render_json(report))
    elif args.latex:
        sys.stdout.write(render_latex(report, digits=args.digits))
    else:
        sys.stdout.write(render_markdown(report, digits=args.digits))
    if args.plot:
        try:
            cd = plot_cd_diagram(report.ranking, args.plot, alpha=args.alpha, comparisons=len(report.comparisons))
        except OSError as err:
            print(f"{PROG}: could not write the plot to {args.plot}: {err}", file=sys.stderr)
            return 1
        where = f"Critical-difference diagram written to {args.plot}"
        cd_text = "no difference can reach significance" if cd is None else f"CD = {cd:.3f} average ranks"
        print(f"{where} ({cd_text}).", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
