"""`erc-synth generate`: generate emotion-labelled dialogues into a resumable run directory.

Examples:

    erc-synth generate --benchmark meld --mode balanced --num-dialogues 70 --output runs/meld_balanced
    erc-synth generate --config configs/generation/smoke.yaml --output runs/smoke --seed 3
    erc-synth generate --benchmark iemocap --persona --backend openai --model my-model \\
        --base-url http://localhost:8000/v1 --output runs/iemocap_persona

Re-running the same command resumes an interrupted run; other settings in an existing directory are refused.
Exit status: 0 complete, 1 stopped by a backend failure (re-run to resume), 2 invalid settings or directory.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["main", "make_parser"]

_DESCRIPTION = (
    "Generate emotion-labelled dialogues with an LLM into a resumable run directory (append-only JSONL shards of "
    "accepted dialogues and rejections, plus manifest.json). Options can also come from --config FILE.yaml; flags "
    "override it."
)


def make_parser() -> argparse.ArgumentParser:
    from erc_synth_datasets.configuration import make_config_parser

    from .config import GenerationConfig

    parser = make_config_parser(GenerationConfig, prog="erc-synth generate", description=_DESCRIPTION)
    parser.add_argument(
        "--api_key",
        "--api-key",
        default=None,
        help="openai backend: the API key itself, for this process only (never logged or stored; prefer "
        "--api_key_env, since a flag shows in the process list).",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    from erc_synth_datasets.benchmarks import BenchmarkError
    from erc_synth_datasets.configuration import ConfigError, parse_config

    from .backends import BackendError
    from .personas import PersonaError
    from .prompts import PromptError
    from .run_format import RunFormatError
    from .runner import run_generation

    parser = make_parser()
    try:
        config, extras = parse_config(parser, argv, return_namespace=True)
        if extras.api_key:
            # Handed to the backend through the variable it reads; it never enters the settings or the manifest.
            os.environ[config.api_key_env] = extras.api_key
        summary = run_generation(config)
    except (ConfigError, BenchmarkError, PromptError, PersonaError, RunFormatError, ValueError) as err:
        print(f"erc-synth generate: {err}", file=sys.stderr)
        return 2
    except BackendError as err:
        print(f"erc-synth generate: {err}", file=sys.stderr)
        return 1
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
