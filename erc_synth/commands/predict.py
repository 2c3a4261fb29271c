"""`erc-synth predict`: label the utterances of a dialogue file with a saved classifier."""

from __future__ import annotations

import sys

from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser
from trainers.predict import PredictArguments, predict

__all__ = ["main", "make_parser"]

PROG = "erc-synth predict"


def make_parser() -> OptionParser:
    return OptionParser(
        PredictArguments,
        prog=PROG,
        description="Label every utterance of a file of dialogues with a saved classifier: one JSON line per "
        "utterance with the predicted label and the probability of every label.",
        epilog="Example: erc-synth predict runs/meld-context/model dialogues.jsonl --output-dir predictions.jsonl",
    )


@reports_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    (args,) = make_parser().parse(argv)
    count = predict(args)
    print(f"{PROG}: {count} utterances labelled, written to {args.output}.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
