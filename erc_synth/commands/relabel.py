"""`erc-synth relabel`: label a synthetic config with a teacher classifier trained on the real benchmark, or with
the generator itself sampled k times (vote shares as soft labels)."""

from __future__ import annotations

import sys

from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser
from erc_synth_datasets.vocabulary import LabelSource
from generation.resample import ResampleOptions, resample_config
from trainers.relabel import RelabelOptions, relabel_with_teacher

__all__ = ["main", "make_parser"]

PROG = "erc-synth relabel"


def make_parser() -> OptionParser:
    return OptionParser(
        [RelabelOptions, ResampleOptions],
        prog=PROG,
        description="Relabel every utterance of a built synthetic config and write the result as a new config of "
        "the same dataset folder: the new hard labels in `emotions`, the probability of every label in "
        "`label_probs`, the generator's labels kept in `generator_emotions`.\n\n"
        "--label-source teacher (the default): a classifier trained on the real benchmark labels every utterance "
        "in its dialogue context (<config>_teacher); the teacher's identity and score go into the card.\n"
        "--label-source resampled: the generator labels each dialogue's fixed text --samples times (speakers and "
        "utterances fixed, only the labels sampled, constrained to the benchmark's label words), each sample with "
        "its own seed derived from --seed; the vote shares are the soft label and the most voted label the hard "
        "one (<config>_resampled); the generator, k, the seed and the agreement with the generator's own labels "
        "go into the card. Samples are cached in <dataset>/.resample/, so an interrupted run continues.",
        epilog="Examples:\n"
        "  erc-synth relabel erc-synth --dataset-config meld_natural --teacher runs/meld_org/model\n"
        "  erc-synth relabel erc-synth --dataset-config meld_natural --label-source resampled --samples 5 --seed 1",
    )


@reports_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    options, resample = make_parser().parse(argv)
    if options.label_source == LabelSource.TEACHER.value:
        if resample.changed():
            raise ConfigError(
                f"{', '.join(resample.changed())} apply to --label-source resampled only, but got --label-source "
                "teacher."
            )
        built, labeller = relabel_with_teacher(options), "the teacher"
    else:
        built = resample_config(
            options.dataset, options.dataset_config, resample, batch_size=options.batch_size, device=options.device
        )
        labeller = f"the majority of {resample.samples} samples"
    agreement = 100 * built.label_source["agreement_with_generator"]
    print(
        f"{PROG}: wrote {built.name} ({sum(built.num_utterances.values())} utterances; {labeller} agrees with the "
        f"generator on {agreement:.1f}%) in {options.dataset}",
        file=sys.stderr,
    )
    return 0
