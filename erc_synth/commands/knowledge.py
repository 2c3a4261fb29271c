"""`erc-synth knowledge`: tools for the commonsense knowledge that `todkat` reads (`trainers.knowledge`).

erc-synth knowledge make-standin --output-dir runs/standin-comet   # writes the offline stand-in generator
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Literal

from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser
from trainers.knowledge import make_standin_generator

__all__ = ["KnowledgeOptions", "main", "make_parser"]

PROG = "erc-synth knowledge"


@dataclass
class KnowledgeOptions:
    """Options of `erc-synth knowledge`."""

    action: Literal["make-standin"] = field(
        metadata={
            "help": "make-standin: write the offline stand-in knowledge generator (a tiny randomly initialised BART "
            "with MiniLM's tokenizer; it exercises the path, its knowledge is noise).",
            "positional": True,
        }
    )
    output_dir: str = field(metadata={"help": "Where to write the stand-in generator."})
    tokenizer: str | None = field(
        default=None, metadata={"help": "Tokenizer id or folder (default: all-MiniLM-L6-v2)."}
    )


def make_parser() -> OptionParser:
    return OptionParser(
        KnowledgeOptions,
        prog=PROG,
        description="Commonsense knowledge for the todkat classifier: write the offline stand-in generator.",
        epilog="Example: erc-synth knowledge make-standin --output-dir runs/standin-comet",
    )


@reports_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    (options,) = make_parser().parse(argv)
    print(make_standin_generator(options.output_dir, options.tokenizer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
