"""Train and evaluate one ERC classifier: optional pretraining on synthetic data, fine-tuning on a real benchmark,
evaluation on the real and synthetic test splits, scores in `<output_dir>/results.json`.

Run as `erc-synth train --config configs/train/smoke.yaml`, or with any number of processes or GPUs as
`accelerate launch trainers/train.py --config configs/train/smoke.yaml`; flags override the YAML.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # `accelerate launch trainers/train.py` runs this file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

__all__ = ["main", "make_parser"]


def make_parser() -> argparse.ArgumentParser:
    """The parser: `--config FILE.yaml` plus one flag per field of the model, data and training arguments."""
    from erc_synth_datasets.configuration import make_config_parser
    from trainers.config import DataArguments, ErcTrainingArguments, ModelArguments

    return make_config_parser(
        [ModelArguments, DataArguments, ErcTrainingArguments],
        prog="erc-synth train",
        description=__doc__.split("\n\n")[0],
    )


def main(argv: list[str] | None = None) -> int:
    """Parses the arguments, runs the protocol, prints the test scores; returns the exit status."""
    from erc_synth_datasets.configuration import ConfigError, parse_config
    from trainers.errors import LabelSpaceError, TrainingConfigError, UnknownModelError

    parser = make_parser()
    try:
        model_args, data_args, training_args = parse_config(parser, argv)
        from trainers.protocol import run_protocol

        results = run_protocol(model_args, data_args, training_args)
    except (ConfigError, TrainingConfigError, LabelSpaceError, UnknownModelError) as err:
        print(f"erc-synth train: {err}", file=sys.stderr)
        return 2
    from accelerate import PartialState

    if PartialState().is_main_process:
        for name, scores in results["test"].items():
            print(
                f"{name}: weighted F1 {100 * scores['weighted_f1']:.2f}  macro F1 {100 * scores['macro_f1']:.2f}  "
                f"accuracy {100 * scores['accuracy']:.2f}  ({scores['num_utterances']} utterances)"
            )
        print(f"results: {Path(training_args.output_dir) / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
