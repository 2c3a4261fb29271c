"""`erc-synth relabel`: label a synthetic config with a teacher classifier trained on the real benchmark."""

from __future__ import annotations

import sys

from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser

__all__ = ["main", "make_parser"]

PROG = "erc-synth relabel"


def make_parser() -> OptionParser:
    from trainers.relabel import RelabelOptions

    return OptionParser(
        RelabelOptions,
        prog=PROG,
        description="Label every utterance of a built synthetic config with a classifier trained on the real "
        "benchmark (a teacher), in its dialogue context, and write the result as the config <config>_teacher of the "
        "same dataset folder: the teacher's hard labels in `emotions`, its probabilities in `label_probs`, the "
        "generator's labels kept in `generator_emotions`, the teacher's identity and score in the card.",
        epilog="Example: erc-synth relabel erc-synth --dataset-config meld_natural --teacher runs/meld_org/model",
    )


@reports_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    (options,) = make_parser().parse(argv)
    from trainers.relabel import relabel_with_teacher

    built = relabel_with_teacher(options)
    agreement = 100 * built.label_source["agreement_with_generator"]
    print(
        f"{PROG}: wrote {built.name} ({sum(built.num_utterances.values())} utterances; the teacher agrees with the "
        f"generator on {agreement:.1f}%) in {options.dataset}",
        file=sys.stderr,
    )
    return 0
