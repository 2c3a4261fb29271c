"""`erc-synth curate`: keep the synthetic utterances whose labels a teacher's probabilities support (cleanlab)."""

from __future__ import annotations

import sys

from erc_synth_datasets.curation import CurationOptions, curate_config
from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser

__all__ = ["main", "make_parser"]

PROG = "erc-synth curate"


def make_parser() -> OptionParser:
    return OptionParser(
        CurationOptions,
        prog=PROG,
        description="Score the labels of a relabelled synthetic config with cleanlab and write a curated config "
        "beside it: --labels generator scores the generator's labels by the teacher's probabilities "
        "(<base>_<policy>, e.g. meld_natural_clean); --labels source keeps the teacher's most confident labels "
        "(<config>_top<q>). Dropped utterances stay in their dialogues as context with label weight 0; the counts "
        "per label before and after go into the card.",
        epilog="Example: erc-synth curate erc-synth --dataset-config meld_natural_teacher --policy clean",
    )


@reports_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    (options,) = make_parser().parse(argv)
    built = curate_config(options)
    kept, scored = built.curation["kept_utterances"], built.curation["scored_utterances"]
    print(f"{PROG}: wrote {built.name}: {kept} of {scored} utterances kept as training targets", file=sys.stderr)
    return 0
