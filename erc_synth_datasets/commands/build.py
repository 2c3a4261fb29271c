"""`erc-synth build`: turn generation runs into a dataset repository folder (Parquet configs + dataset card)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main", "make_parser"]


def make_parser() -> argparse.ArgumentParser:
    from ..build import BuildConfig
    from ..configuration import make_config_parser

    parser = make_config_parser(
        BuildConfig,
        prog="erc-synth build",
        description=(
            "Build a dataset repository folder from generation runs: one config per benchmark and mode "
            "(<benchmark>_<mode>), each with train/validation/test Parquet splits, and a dataset card. Configs "
            "already in the folder are kept; the card's prose is kept."
        ),
    )
    parser.epilog = "Example: erc-synth build runs/meld_balanced runs/meld_natural --output erc-synth"
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="Generation run directories.")
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..build import BuildError, build_dataset
    from ..configuration import ConfigError, parse_config

    try:
        config, args = parse_config(make_parser(), argv, return_namespace=True)
        result = build_dataset(args.runs, config)
    except (BuildError, ConfigError) as err:
        print(f"erc-synth build: {err}", file=sys.stderr)
        return 2
    print(f"Built {result.output}")
    for built in result.configs:
        counts = ", ".join(f"{split} {n}" for split, n in built.num_dialogues.items())
        print(f"  {built.name}: {counts} dialogues; {sum(built.num_utterances.values())} utterances")
    if result.kept_configs:
        print(f"  kept: {', '.join(result.kept_configs)}")
    print(f'Load it with: load_dataset("{result.output}", "{result.configs[0].name}")')
    return 0
