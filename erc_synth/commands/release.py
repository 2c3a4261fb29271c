"""`erc-synth release`: every config generated, measured, built, tested for utility and published, resumably.

Examples:

    erc-synth release configs/release/cpu_example.yaml              # a dry-run push unless a Hub token is set
    erc-synth release configs/release/paper.yaml --push             # push (and tag) at the end

Running the same file again continues an interrupted release and reuses every stage whose settings did not change
(`erc_synth.release`). Exit status: 0 done; 1 a stage failed or the file is wrong (one line on stderr; the finished
stages are kept); 2 unknown flags.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

from erc_synth.release import load_release_config, run_release
from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser

__all__ = ["ReleaseOptions", "main", "make_parser"]

PROG = "erc-synth release"


@dataclass
class ReleaseOptions:
    """Options of `erc-synth release`."""

    release_file: Path = field(
        metadata={
            "help": "The release YAML (configs/release/*.yaml; keys: erc_synth.release.ReleaseConfig).",
            "positional": True,
        }
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "The release folder (default: the file's output_dir)."}
    )
    dry_run: bool = field(default=False, metadata={"help": "Plan the push without sending anything."})
    push: bool = field(default=False, metadata={"help": "Push to the Hub (default: push only when a token is set)."})


def make_parser() -> OptionParser:
    return OptionParser(
        ReleaseOptions,
        prog=PROG,
        description="Run a release: per config generate -> quality report -> build (one dataset folder, every "
        "report in the card) -> utility per benchmark -> push (a dry run unless --push, or a Hub token is set). "
        "Resumable: a stage whose inputs did not change is reused.",
        epilog="Example: erc-synth release configs/release/cpu_example.yaml",
    )


@reports_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    (options,) = make_parser().parse(argv)
    if options.dry_run and options.push:
        raise ConfigError("Give --dry-run or --push, not both.")
    config = load_release_config(options.release_file)
    if options.output_dir:
        config = dataclasses.replace(config, output_dir=options.output_dir)
    dry_run = True if options.dry_run else (False if options.push else None)
    result = run_release(config, dry_run=dry_run)
    ran = result.ran()
    print(f"Release {result.output}: {len(ran)} stage(s) run, {len(result.stages) - len(ran)} reused.")
    print(f"Dataset folder: {result.dataset} (card: {result.dataset / 'README.md'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
