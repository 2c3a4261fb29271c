"""Train and evaluate one ERC classifier: optional pretraining on synthetic data, fine-tuning on a real benchmark,
evaluation on the real and synthetic test splits, scores in `<output_dir>/results.json`.

Run as `erc-synth train --config configs/train/smoke.yaml`, or with any number of processes or GPUs as
`accelerate launch trainers/train.py --config configs/train/smoke.yaml` (`trainers/train.py` is the script form of
this module); flags override the YAML.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser, asks_for_help
from erc_synth_datasets.processes import exclusive_folder
from erc_synth_datasets.progress import silence_progress_bars
from trainers.config import DataArguments, ModelArguments
from trainers.training_help import help_training_arguments

__all__ = ["main", "make_parser"]


def make_parser(*, for_help: bool = False) -> OptionParser:
    """The parser: `--config FILE.yaml` plus one flag per field of the model, data and training arguments.

    Args:
        for_help: Take `TrainingArguments`' fields from the shipped snapshot (`trainers.training_help`) instead of
            importing transformers, when the snapshot matches the installed version: the same flags and help, for
            showing the help only (the training arguments it would make are stand-ins).
    """
    training = None
    if for_help:
        training = help_training_arguments()
    if training is None:
        # heavy: loads torch and transformers; --help takes the snapshot above instead when it matches
        from trainers.training_args import ErcTrainingArguments as training

    return OptionParser(
        [ModelArguments, DataArguments, training],
        prog="erc-synth train",
        description=__doc__.split("\n\n")[0],
    )


def _output_folder(output_dir: str):
    """Holds the output folder for this run (`exclusive_folder`): one process of a launch takes it, the first
    (`RANK` 0, or no launcher), so that a second launch into the same folder fails instead of mixing checkpoints."""
    if int(os.environ.get("RANK", "0")) != 0:
        return contextlib.nullcontext()
    return exclusive_folder(output_dir, "training")


@reports_errors("erc-synth train")
def main(argv: list[str] | None = None) -> int:
    """Parses the arguments, runs the protocol, prints the test scores; returns the exit status."""
    if asks_for_help(argv or ()):
        make_parser(for_help=True).parse(argv)  # prints the help and exits
    model_args, data_args, training_args = make_parser().parse(argv)
    if training_args.disable_tqdm:
        silence_progress_bars()  # the bars of model loading and dataset preparation too, not only the trainer's
    # heavy: loads torch, transformers and datasets; imported after the bars are silenced, and never for --help
    from trainers.protocol import run_protocol

    with _output_folder(training_args.output_dir):
        results = run_protocol(model_args, data_args, training_args)
    from accelerate import PartialState

    if PartialState().is_main_process:
        for name, scores in results["test"].items():
            print(
                f"{name}: weighted F1 {100 * scores['weighted_f1']:.2f}  macro F1 {100 * scores['macro_f1']:.2f}  "
                f"accuracy {100 * scores['accuracy']:.2f}  ({scores['num_utterances']} utterances)"
            )
            floor = results.get("baselines", {}).get(name, {})
            if floor:
                print(
                    "  baselines: "
                    + "  ".join(f"{baseline} {100 * s['weighted_f1']:.2f}" for baseline, s in floor.items())
                )
        print(f"results: {Path(training_args.output_dir) / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
