"""`erc-synth merge`: join the shard directories of a generation run split with --num-shards into one run."""

from __future__ import annotations

import sys

from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser
from generation.merge import MergeOptions, merge_runs

__all__ = ["main", "make_parser"]

PROG = "erc-synth merge"


def make_parser() -> OptionParser:
    return OptionParser(
        MergeOptions,
        prog=PROG,
        description="Join the shard directories of a generation run split with --num-shards into one run directory.",
    )


@reports_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    (options,) = make_parser().parse(argv)
    manifest = merge_runs(options.shards, options.output_dir, allow_incomplete=options.allow_incomplete)
    counts = manifest.counts
    print(
        f"merged {len(options.shards)} shards: {counts.accepted} accepted, {counts.rejected} rejected "
        f"-> {options.output_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
