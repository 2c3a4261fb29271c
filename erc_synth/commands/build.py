"""`erc-synth build`: turn generation runs into a dataset repository folder (Parquet configs + dataset card)."""

from __future__ import annotations

from erc_synth_datasets.build import BuildConfig, build_dataset
from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser

__all__ = ["main", "make_parser"]

PROG = "erc-synth build"


def make_parser() -> OptionParser:
    parser = OptionParser(
        BuildConfig,
        prog=PROG,
        description=(
            "Build a dataset repository folder from generation runs: one config per benchmark and mode "
            "(<benchmark>_<mode>, or <benchmark>_<mode>_persona for persona runs), each with train/validation/test "
            "Parquet splits, and a dataset card. Configs already in the folder are kept; the card's prose is kept."
        ),
        epilog="Example: erc-synth build runs/meld_balanced runs/meld_natural --output-dir erc-synth",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="Generation run directories.")
    return parser


@reports_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    config, args = make_parser().parse_with_extras(argv)
    result = build_dataset(args.runs, config)
    print(f"Built {result.output}")
    for built in result.configs:
        counts = ", ".join(f"{split} {n}" for split, n in built.num_dialogues.items())
        print(f"  {built.name}: {counts} dialogues; {sum(built.num_utterances.values())} utterances")
    if result.kept_configs:
        print(f"  kept: {', '.join(result.kept_configs)}")
    print(f'Load it with: load_dataset("{result.output}", "{result.configs[0].name}")')
    return 0
