"""`erc-synth quality`: the quality report of a generation run or a built dataset config, beside the real benchmark.

Examples:

    erc-synth quality runs/meld_natural --data-dir ../shared/data/meld
    erc-synth quality erc-synth --dataset-config meld_balanced --output-dir reports/meld_balanced
    erc-synth quality runs/meld_natural --no-embeddings          # stored real figures, no encoder
    erc-synth quality runs/meld_natural --data-dir ../shared/data/meld --classifier runs/meld-context/model

Writes `quality.json` (the contract is in docs/quality.md), `quality.md` and `quality.png` into --output-dir (default:
`<run>/quality`, or `<dataset folder>/quality/<config>`), and prints the Markdown.
Exit status: 0 done, 1 unreadable input or a classifier for other labels (one line on stderr; --debug shows the
traceback).

The command joins three libraries: the report (`erc_synth_datasets.quality`), the judge (`generation.judge`, with
`--judge-model`) and a saved classifier (`trainers.predict`, with `--classifier`); the report library takes any
`quality.models.DialogueClassifier` and the judge's summary, and imports neither.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from erc_synth_datasets.benchmarks import Benchmark, get_benchmark
from erc_synth_datasets.configuration import check_fields
from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser
from erc_synth_datasets.quality.outputs import config_report_folder, write_report
from erc_synth_datasets.quality.report import QualitySettings, compute_report
from erc_synth_datasets.quality.sources import SyntheticSource, load_dataset_config, load_real_split, load_run
from erc_synth_datasets.stats import real_data_folder
from erc_synth_datasets.threads import apply_torch_threads, num_threads_field
from erc_synth_datasets.vocabulary import Split
from generation.judge import JUDGE_CACHE_NAME, JudgeOptions, judge_dialogues, summarize_judgements
from trainers.predict import SavedClassifier

if TYPE_CHECKING:
    from erc_synth_datasets.quality.models import DialogueClassifier

__all__ = ["ClassifierOptions", "QualityOptions", "main", "make_parser"]

PROG = "erc-synth quality"


@dataclass
class QualityOptions:
    """What to report on and where the report goes."""

    source: Path = field(
        metadata={"help": "A generation run folder, or a dataset folder built by build.", "positional": True}
    )
    dataset_config: str | None = field(
        default=None, metadata={"help": "With a dataset folder: the config to report on.", "metavar": "NAME"}
    )
    benchmark: str | None = field(
        default=None, metadata={"help": "The benchmark the data follows (default: from the run or the labels)."}
    )
    data_dir: Path | None = field(
        default=None,
        metadata={
            "help": "The real benchmark's files (default: the files a custom benchmark's data: section names; else "
            "$ERC_SYNTH_DATA_DIR/<benchmark> when set; else stored figures)."
        },
    )
    output_dir: Path | None = field(
        default=None,
        metadata={
            "help": "Folder for quality.json, quality.md and quality.png (default: <run>/quality, or <dataset "
            "folder>/quality/<config>)."
        },
    )
    json: bool = field(default=False, metadata={"help": "Print the JSON report instead of the Markdown."})
    num_threads: int | None = num_threads_field("the encoder, --classifier and a local --judge-model")


@dataclass
class ClassifierOptions:
    """The trained reference classifier of label fidelity (`--classifier`), beside the TF-IDF reference."""

    classifier: str | None = field(
        default=None,
        metadata={
            "help": "A classifier folder saved by `erc-synth train` (<output_dir>/model): label fidelity is also "
            "measured against its predictions, every utterance read in its dialogue context as in training, and "
            "(with real data) on the real test split. Its labels must be the benchmark's, in the same order.",
            "metavar": "MODEL_DIR",
        },
    )
    classifier_batch_size: int = field(
        default=32, metadata={"range": "[1, 65536]", "help": "Utterances per forward pass of --classifier."}
    )
    classifier_device: str | None = field(
        default=None, metadata={"help": "Torch device of --classifier (default: cuda when available, else cpu)."}
    )

    def __post_init__(self) -> None:
        check_fields(self)

    def build(self, benchmark: Benchmark) -> DialogueClassifier | None:
        """The saved classifier, loaded for `benchmark` (None without --classifier).

        Raises:
            TrainingConfigError: the folder is not a saved classifier, or its head's labels are not the benchmark's
                labels in the benchmark's order.
        """
        if self.classifier is None:
            return None
        return SavedClassifier(
            self.classifier, benchmark=benchmark, batch_size=self.classifier_batch_size, device=self.classifier_device
        )


def make_parser() -> OptionParser:
    return OptionParser(
        [QualityOptions, QualitySettings, ClassifierOptions, JudgeOptions],
        prog=PROG,
        description="Degeneracy, diversity, realism and label fidelity of synthetic dialogues, every figure beside "
        "the same figure of the real benchmark (from --data-dir, else stored reference figures). With "
        "--classifier, label fidelity is also measured against a classifier trained with `erc-synth train`; with "
        "--judge-model, a generation backend scores every dialogue 1-5 for naturalness and label correctness "
        "(judgements cached in <output-dir>/judge.jsonl, only missing ones judged on a later call).",
        epilog="Example: erc-synth quality runs/meld_natural --data-dir ../shared/data/meld",
    )


def _judge(
    options: JudgeOptions, source: SyntheticSource, output: Path, seed: int, num_threads: int | None
) -> dict | None:
    """The judge section of the report, or None when no --judge-model is given."""
    if not options.judge_model:
        return None
    backend = options.build_backend(num_threads)
    ids = source.dialogue_ids or [f"dialogue-{index}" for index in range(len(source.dialogues))]
    try:
        judgements = judge_dialogues(
            backend,
            source.dialogues,
            ids,
            source.benchmark,
            output / JUDGE_CACHE_NAME,
            max_new_tokens=options.judge_max_new_tokens,
            seed=seed,
        )
    finally:
        backend.close()
    return summarize_judgements(judgements, backend.model_name)


@reports_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args, settings, classifier_options, judge_options = make_parser().parse(argv)
    # heavy: loads datasets; imported when the command runs so --help stays fast
    from erc_synth_datasets.quality.reference import load_reference

    if args.dataset_config:
        source = load_dataset_config(args.source, args.dataset_config, args.benchmark)
        output = args.output_dir or config_report_folder(args.source, args.dataset_config)
    else:
        source = load_run(args.source)
        if args.benchmark:
            source.benchmark = get_benchmark(args.benchmark)
        output = args.output_dir or args.source / "quality"
    data_dir = real_data_folder(source.benchmark, args.data_dir)
    real = real_test = None
    if data_dir is not None:
        real = load_real_split(source.benchmark, data_dir, Split.TRAIN)
        real_test = load_real_split(source.benchmark, data_dir, Split.TEST)
    reference = load_reference(source.benchmark) if real is None else None
    if settings.embeddings or classifier_options.classifier or judge_options.judge_model:
        apply_torch_threads(args.num_threads)  # before any model loads: the encoder, the classifier, the judge
    classifier = classifier_options.build(source.benchmark)  # a classifier for other labels fails before the judge
    judge = _judge(judge_options, source, output, settings.seed, args.num_threads)
    report = compute_report(
        source,
        real=real,
        real_test=real_test,
        reference=reference,
        settings=settings,
        classifier=classifier,
        judge=judge,
    )
    paths = write_report(report, output)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(paths["markdown"].read_text(encoding="utf-8"))
        print(f"Written: {', '.join(str(p) for p in paths.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
