"""The `erc-synth` console script: one entry point, subcommands imported only when chosen.

Each subcommand lives in its own module of `erc_synth.commands`, exposing `make_parser()` and
`main(argv: list[str] | None = None) -> int`; heavy imports stay inside `main`, so `erc-synth --help` and
`erc-synth <command> --help` load no `datasets`, `torch` or `transformers` (`train`'s help shows
`transformers.TrainingArguments`' options from a snapshot of them, see `trainers.training_help`). An error of the
project's own (`ErcSynthError`) is printed as one line on stderr with exit status 1; `--debug` shows its traceback.
"""

from __future__ import annotations

import sys

from erc_synth_datasets.errors import DEBUG_FLAG, ErcSynthError, is_reported, report_error
from erc_synth_datasets.registry import Registry, RegistryError

__all__ = ["COMMANDS", "COMMAND_HELP", "main"]

# name -> "module:main". A lazy registry, as in lm-evaluation-harness.
COMMANDS: Registry = Registry(
    "command",
    {
        "stats": "erc_synth.commands.stats:main",
        "demo": "erc_synth.commands.demo:main",
        "generate": "erc_synth.commands.generate:main",
        "merge": "erc_synth.commands.merge:main",
        "build": "erc_synth.commands.build:main",
        "push": "erc_synth.commands.push:main",
        "quality": "erc_synth.commands.quality:main",
        "train": "erc_synth.commands.train:main",
        "experiment": "erc_synth.commands.experiment:main",
        "significance": "erc_synth.commands.significance:main",
        "predict": "erc_synth.commands.predict:main",
        "knowledge": "erc_synth.commands.knowledge:main",
        "relabel": "erc_synth.commands.relabel:main",
        "curate": "erc_synth.commands.curate:main",
        "release": "erc_synth.commands.release:main",
    },
    hint="Run `erc-synth --help` for what each one does.",
)
COMMAND_HELP: dict[str, str] = {
    "stats": "Statistics of a real benchmark or a synthetic dataset.",
    "demo": "Run the main job on the embedded defaults.",
    "generate": "Generate emotion-labelled dialogues with an LLM (resumable).",
    "merge": "Join the shards of a generation run split with --num-shards.",
    "build": "Turn generation runs into a dataset repository folder.",
    "push": "Publish a dataset folder to the Hugging Face Hub.",
    "quality": "Quality report of synthetic dialogues beside the real benchmark.",
    "train": "Pretrain on synthetic data, fine-tune on a real benchmark, evaluate.",
    "experiment": "Run an experiment matrix of training runs (resumable).",
    "significance": "Friedman ranks and exact pairwise p-values for a scores table.",
    "predict": "Label the utterances of a dialogue file with a saved classifier.",
    "knowledge": "Commonsense knowledge for todkat: write the offline stand-in generator.",
    "relabel": "Relabel a synthetic config with a teacher trained on the real data.",
    "curate": "Keep the synthetic labels a teacher supports (cleanlab curation).",
    "release": "Generate, measure, build, test utility and publish every config (resumable).",
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        "usage: erc-synth [--debug] <command> [options]",
        "",
        "Synthetic emotion-labelled conversations for ERC: generate, build, publish, train, test significance.",
        "",
        "commands:",
    ]
    lines += [f"  {name.ljust(width)}  {COMMAND_HELP[name]}" for name in COMMANDS]
    lines += [
        "",
        "Run `erc-synth <command> --help` for the options of one command. Errors are reported in one line (exit "
        "status 1); --debug shows the traceback.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in argv
    if argv and argv[0] == DEBUG_FLAG:
        argv = argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        from importlib.metadata import version

        print(f"erc-synth {version('erc-synth')}")
        return 0
    name, rest = argv[0], argv[1:]
    if debug and DEBUG_FLAG not in rest:
        rest.append(DEBUG_FLAG)
    try:
        command = COMMANDS.get(name)
    except RegistryError as err:
        print(f"erc-synth: {err}", file=sys.stderr)
        return 2
    try:
        return int(command(rest) or 0)
    except (ErcSynthError, OSError) as err:  # a command that does not report its own errors
        if not is_reported(err):
            raise
        return report_error(f"erc-synth {name}", err, debug=debug)


if __name__ == "__main__":
    sys.exit(main())
