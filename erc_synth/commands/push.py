"""`erc-synth push`: publish a dataset folder to the Hugging Face Hub in one commit, optionally tagged."""

from __future__ import annotations

import sys
from typing import Any

from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser
from erc_synth_datasets.publish import PushConfig, push_folder

__all__ = ["main", "make_parser"]

PROG = "erc-synth push"


def make_parser() -> OptionParser:
    parser = OptionParser(
        PushConfig,
        prog=PROG,
        description=(
            "Upload a dataset folder built by `erc-synth build` in one commit. Configs that only the remote has, "
            "and the remote card's prose, are kept. The token comes from HF_TOKEN or `hf auth login`."
        ),
        epilog="Example: erc-synth push erc-synth --repo-id my-org/erc-synth --tag v1.0.0",
    )
    parser.add_argument("folder", help="The dataset folder (the --output-dir of `erc-synth build`).")
    return parser


@reports_errors(PROG)
def main(argv: list[str] | None = None, *, api: Any = None) -> int:
    """Runs `erc-synth push`; `api` replaces the default `HfApi()` (the Hub client)."""
    from huggingface_hub.errors import HfHubHTTPError

    config, args = make_parser().parse_with_extras(argv)
    try:
        result = push_folder(args.folder, config, api=api)
    except HfHubHTTPError as err:
        # The message of a Hub error names the request and the server's reason, never the token.
        print(f"{PROG}: the Hub refused the request: {err}", file=sys.stderr)
        return 1
    print(result.plan.describe())
    if config.dry_run:
        print("Dry run: nothing was sent.")
        return 0
    print(f"Pushed: {result.commit_url}")
    if config.tag:
        print(f"Tagged {config.tag}: load it with load_dataset({config.repo_id!r}, <config>, revision={config.tag!r})")
    return 0
