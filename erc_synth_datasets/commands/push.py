"""`erc-synth push`: publish a dataset folder to the Hugging Face Hub in one commit, optionally tagged."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["main", "make_parser"]


def make_parser() -> argparse.ArgumentParser:
    from ..configuration import make_config_parser
    from ..publish import PushConfig

    parser = make_config_parser(
        PushConfig,
        prog="erc-synth push",
        description=(
            "Upload a dataset folder built by `erc-synth build` in one commit. Configs that only the remote has, "
            "and the remote card's prose, are kept. The token comes from HF_TOKEN or `hf auth login`."
        ),
    )
    parser.epilog = "Example: erc-synth push erc-synth --repo-id my-org/erc-synth --tag v1.0.0"
    parser.add_argument("folder", help="The dataset folder (the --output of `erc-synth build`).")
    return parser


def main(argv: list[str] | None = None, *, api: Any = None) -> int:
    """Runs `erc-synth push`; `api` replaces the default `HfApi()` (the Hub client)."""
    from huggingface_hub.errors import HfHubHTTPError

    from ..card import CardError
    from ..configuration import ConfigError, parse_config
    from ..publish import PushError, push_folder

    try:
        config, args = parse_config(make_parser(), argv, return_namespace=True)
        result = push_folder(args.folder, config, api=api)
    except (PushError, CardError, ConfigError) as err:
        print(f"erc-synth push: {err}", file=sys.stderr)
        return 2
    except HfHubHTTPError as err:
        # The message of a Hub error names the request and the server's reason, never the token.
        print(f"erc-synth push: the Hub refused the request: {err}", file=sys.stderr)
        return 1
    print(result.plan.describe())
    if config.dry_run:
        print("Dry run: nothing was sent.")
        return 0
    print(f"Pushed: {result.commit_url}")
    if config.tag:
        print(f"Tagged {config.tag}: load it with load_dataset({config.repo_id!r}, <config>, revision={config.tag!r})")
    return 0
