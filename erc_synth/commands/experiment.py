"""`erc-synth experiment`: run an experiment matrix of training runs (resumable) and write its scores table."""

from __future__ import annotations

import sys

from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser
from trainers.experiment import ExperimentConfig, run_experiment

__all__ = ["main", "make_parser"]

PROG = "erc-synth experiment"


def make_parser() -> OptionParser:
    parser = OptionParser(
        ExperimentConfig,
        prog=PROG,
        description="Run an experiment matrix of training runs (resumable) and write its scores table. The matrix "
        "comes from an experiment YAML (see configs/experiments/); flags override its keys.",
        epilog="Example: erc-synth experiment configs/experiments/paper.yaml --seeds 1 2 3",
        config_positional=True,
    )
    parser.add_argument("--dry-run", action="store_true", help="List the runs left to do and rebuild the tables only.")
    parser.add_argument("--table-only", action="store_true", help="Same as --dry-run.")
    return parser


@reports_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    config, extras = make_parser().parse_with_extras(argv)
    # A dry run lists the runs left to do and rebuilds the tables from the finished ones.
    return 1 if run_experiment(config, dry_run=extras.dry_run or extras.table_only) else 0


if __name__ == "__main__":
    sys.exit(main())
