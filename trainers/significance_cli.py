"""`erc-synth significance`: Friedman ranks, omnibus tests and exact pairwise p-values for a table of scores."""

from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

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
            "nargs": "+",
        },
    )
    control: str | None = field(default=None, metadata={"help": "Compare every other system with this one."})
    correction: str = field(
        default="bonferroni",
        metadata={
            "help": "Multiple-comparison correction over the comparisons made.",
            "choices": ("bonferroni", "holm", "none"),
        },
    )
    lower_is_better: bool = field(
        default=False, metadata={"help": "Lower scores are better (losses, error rates); default: higher is better."}
    )
    seeds: str = field(
        default="mean",
        metadata={
            "help": "Per-seed tables: `mean` averages each variant over its seeds (blocks = test sets); `blocks` "
            "makes every (test set, seed) pair a block.",
            "choices": ("mean", "blocks"),
        },
    )
    json: bool = field(default=False, metadata={"help": "Print one JSON object (omnibus, comparisons)."})
    latex: bool = field(default=False, metadata={"help": "Print a LaTeX (booktabs) table instead of Markdown."})
    digits: int | None = field(
        default=None, metadata={"help": "Decimals of the scores (default: 2 for percentages, 4 for fractions)."}
    )
    plot: Path | None = field(
        default=None, metadata={"help": "Write a critical-difference diagram to this image.", "metavar": "FILE.png"}
    )
    alpha: float = field(default=0.05, metadata={"help": "Significance level of the diagram's critical difference."})

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"--alpha must lie strictly between 0 and 1, but got {self.alpha}.")
        if self.digits is not None and not 0 <= self.digits <= 12:
            raise ValueError(f"--digits must be between 0 and 12, but got {self.digits}.")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erc-synth significance",
        description="Rank systems within each test set (1 = best), sum the ranks, run the Friedman and "
        "Iman-Davenport tests, and give exact p-values for differences of rank sums (Eisinga et al., 2017) with "
        "Bonferroni or Holm correction over the comparisons made.",
        epilog="Example: erc-synth significance runs/experiment/table.csv --correction holm --plot cd.png",
    )
    output = parser.add_mutually_exclusive_group()
    for spec in fields(SignificanceArguments):
        meta = spec.metadata
        kwargs: dict[str, Any] = {"help": meta["help"]}
        if meta.get("positional"):
            parser.add_argument(spec.name, type=Path, help=meta["help"])
            continue
        flag = "--" + spec.name.replace("_", "-")
        default = spec.default_factory() if spec.default_factory is not MISSING else spec.default
        target = output if spec.name in ("json", "latex") else parser
        if spec.type in ("bool", bool):
            target.add_argument(flag, action="store_true", help=meta["help"])
            continue
        kwargs["default"] = default
        for key in ("choices", "metavar", "nargs"):
            if key in meta:
                kwargs[key] = meta[key]
        if meta.get("nargs") == "+":
            kwargs["action"] = "extend"
        kwargs["type"] = {"plot": Path, "digits": int, "alpha": float}.get(spec.name, str)
        target.add_argument(flag, **kwargs)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = SignificanceArguments(**vars(make_parser().parse_args(argv)))
    except ValueError as err:
        print(f"erc-synth significance: {err}", file=sys.stderr)
        return 2
    from trainers.stats import SignificanceError, analyse, read_table, render_json, render_latex, render_markdown
    from trainers.stats.plot import plot_cd_diagram

    try:
        table = read_table(args.table, seeds=args.seeds)
        report = analyse(
            table,
            compare_specs=args.compare,
            control=args.control,
            correction=args.correction,
            higher_is_better=not args.lower_is_better,
        )
    except SignificanceError as err:
        print(f"erc-synth significance: {err}", file=sys.stderr)
        return 2
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
            print(f"erc-synth significance: could not write the plot to {args.plot}: {err}", file=sys.stderr)
            return 2
        where = f"Critical-difference diagram written to {args.plot}"
        cd_text = "no difference can reach significance" if cd is None else f"CD = {cd:.3f} average ranks"
        print(f"{where} ({cd_text}).", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
