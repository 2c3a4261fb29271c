"""The `erc-synth` console script: one entry point, subcommands imported only when chosen.

Each subcommand lives in its own module exposing `make_parser() -> argparse.ArgumentParser` and
`main(argv: list[str] | None = None) -> int`; heavy imports stay inside `main`, so `erc-synth --help` is instant.
"""

from __future__ import annotations

import difflib
import importlib
import sys

__all__ = ["COMMANDS", "main"]

# name -> ("module", one-line help). A lazy registry, as in lm-evaluation-harness.
COMMANDS: dict[str, tuple[str, str]] = {
    "stats": ("erc_synth_datasets.commands.stats", "Statistics of a real benchmark or a synthetic dataset."),
    "demo": ("erc_synth_datasets.commands.demo", "Run the main job on the embedded defaults."),
    "generate": ("generation.cli", "Generate emotion-labelled dialogues with an LLM (resumable)."),
    "merge": ("generation.merge", "Join the shards of a generation run split with --num-shards."),
    "build": ("erc_synth_datasets.commands.build", "Turn generation runs into a dataset repository folder."),
    "push": ("erc_synth_datasets.commands.push", "Publish a dataset folder to the Hugging Face Hub."),
    "train": ("trainers.train", "Pretrain on synthetic data, fine-tune on a real benchmark, evaluate."),
    "experiment": ("trainers.experiment", "Run an experiment matrix of training runs (resumable)."),
    "significance": ("trainers.significance_cli", "Friedman ranks and exact pairwise p-values for a scores table."),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        "usage: erc-synth <command> [options]",
        "",
        "Synthetic emotion-labelled conversations for ERC: generate, build, publish, train, test significance.",
        "",
        "commands:",
    ]
    lines += [f"  {name.ljust(width)}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "Run `erc-synth <command> --help` for the options of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        from importlib.metadata import version

        print(f"erc-synth {version('erc-synth')}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, list(COMMANDS), n=2)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        print(f"erc-synth: unknown command {name!r}.{hint} Available: {', '.join(COMMANDS)}.", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
