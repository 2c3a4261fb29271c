"""`erc-synth generate`: generate emotion-labelled dialogues into a resumable run directory.

Examples:

    erc-synth generate --benchmark meld --mode balanced --num-dialogues 70 --output-dir runs/meld_balanced
    erc-synth generate --config configs/generation/smoke.yaml --output-dir runs/smoke --seed 3
    erc-synth generate --benchmark iemocap --persona --backend openai --model my-model \\
        --base-url http://localhost:8000/v1 --output-dir runs/iemocap_persona

Re-running the same command resumes an interrupted run; other settings in an existing directory are refused.
Exit status: 0 complete; 1 stopped by a backend failure (re-run to resume), or invalid settings or directory (one
line on stderr); 2 unknown flags.
"""

from __future__ import annotations

import os
import sys

from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser
from erc_synth_datasets.progress import silence_progress_bars
from generation.config import GenerationConfig

__all__ = ["main", "make_parser"]

PROG = "erc-synth generate"
_DESCRIPTION = (
    "Generate emotion-labelled dialogues with an LLM into a resumable run directory (append-only JSONL shards of "
    "accepted dialogues and rejections, plus manifest.json). Options can also come from --config FILE.yaml; flags "
    "override it."
)


def make_parser() -> OptionParser:
    parser = OptionParser(GenerationConfig, prog=PROG, description=_DESCRIPTION)
    parser.add_argument(
        "--api-key",
        default=None,
        help="openai backend: the API key itself, for this process only (never logged or stored; prefer "
        "--api-key-env, since a flag shows in the process list).",
    )
    return parser


@reports_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    config, extras = make_parser().parse_with_extras(argv)
    if not config.progress:
        silence_progress_bars()  # model loading too, before any library that draws bars is imported
    # heavy: loads datasets; imported after the bars are silenced, and never for --help
    from generation.runner import run_generation

    if extras.api_key:
        # Handed to the backend through the variable it reads; it never enters the settings or the manifest.
        os.environ[config.api_key_env] = extras.api_key
    summary = run_generation(config)
    print(
        f"{summary.status}: {summary.accepted} accepted, {summary.rejected} rejected "
        f"({summary.attempts} attempts for {summary.requested} planned dialogues), "
        f"{summary.completion_tokens} tokens generated, {summary.elapsed_seconds:.1f} s -> {summary.run_dir}"
    )
    if summary.message:
        print(summary.message, file=sys.stderr)
    return 0 if summary.status == "complete" else 1


if __name__ == "__main__":
    sys.exit(main())
