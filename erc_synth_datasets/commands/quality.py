"""`erc-synth quality`: the quality report of a generation run or a built dataset config, beside the real benchmark.

Examples:

    erc-synth quality runs/meld_natural --data-dir ../shared/data/meld
    erc-synth quality erc-synth --dataset-config meld_balanced --output reports/meld_balanced
    erc-synth quality runs/meld_natural --no-embeddings          # stored real figures, no encoder
    erc-synth quality runs/meld_natural --data-dir ../shared/data/meld --classifier runs/meld-context/model

Writes `quality.json` (the contract is in docs/quality.md), `quality.md` and `quality.png` into --output (default:
`<run>/quality`, or `<dataset folder>/quality/<config>`), and prints the Markdown.
Exit status: 0 done, 1 unreadable input or a classifier for other labels (one line on stderr; --debug shows the
traceback).

This is the one module of the report that reaches into `trainers/` (for `--classifier`), and only inside a function:
the report library takes any `quality.models.DialogueClassifier`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from ..configuration import check_fields
from ..errors import reports_errors

if TYPE_CHECKING:
    from ..benchmarks import Benchmark
    from ..quality.models import DialogueClassifier
    from ..quality.sources import SyntheticSource

__all__ = ["ClassifierOptions", "main", "make_parser"]


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
        from trainers.predict import SavedClassifier  # the training code loads only when a classifier is given

        return SavedClassifier(
            self.classifier, benchmark=benchmark, batch_size=self.classifier_batch_size, device=self.classifier_device
        )


def _add_dataclass_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, options: type) -> None:
    """One flag per field of an options dataclass: `--x/--no-x` for booleans, the default's type for the others."""
    for spec in fields(options):
        flag = "--" + spec.name.replace("_", "-")
        help_text = spec.metadata.get("help", "")
        if spec.default is not None:  # a None default is described by the help text itself
            help_text += f" (default: {spec.default})"
        if isinstance(spec.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=spec.default, help=help_text)
        else:
            kind = type(spec.default) if spec.default is not None else str
            metavar = spec.metadata.get("metavar")
            parser.add_argument(flag, type=kind, default=spec.default, dest=spec.name, metavar=metavar, help=help_text)


def make_parser() -> argparse.ArgumentParser:
    from ..quality.report import QualitySettings

    parser = argparse.ArgumentParser(
        prog="erc-synth quality",
        description="Degeneracy, diversity, realism and label fidelity of synthetic dialogues, every figure beside "
        "the same figure of the real benchmark (from --data-dir, else stored reference figures).",
        epilog="Example: erc-synth quality runs/meld_natural --data-dir ../shared/data/meld",
    )
    parser.add_argument("source", type=Path, help="A generation run folder, or a dataset folder built by build.")
    parser.add_argument("--dataset-config", metavar="NAME", help="With a dataset folder: the config to report on.")
    parser.add_argument("--benchmark", help="The benchmark the data follows (default: from the run or the labels).")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="The real benchmark's files (default: $ERC_SYNTH_DATA_DIR/<benchmark> when set; else stored figures).",
    )
    parser.add_argument("--output", type=Path, help="Folder for quality.json, quality.md and quality.png.")
    parser.add_argument("--json", action="store_true", help="Print the JSON report instead of the Markdown.")
    _add_dataclass_flags(parser, QualitySettings)
    _add_dataclass_flags(
        parser.add_argument_group(
            "Trained reference classifier",
            "Label fidelity against a classifier trained with `erc-synth train`, reported beside the TF-IDF + "
            "logistic regression reference (label_fidelity.references.classifier in quality.json).",
        ),
        ClassifierOptions,
    )
    judge = parser.add_argument_group(
        "LLM judge",
        "Score every dialogue 1-5 for naturalness and label correctness with a generation backend; "
        "judgements are cached in <output>/judge.jsonl and only missing ones are judged on a later call.",
    )
    judge.add_argument("--judge-model", metavar="MODEL", help="Enable the judge with this model (e.g. smollm2).")
    judge.add_argument("--judge-backend", default="transformers", help="Backend of the judge (default: transformers).")
    judge.add_argument("--judge-device", help="Device of a local judge (transformers backend).")
    judge.add_argument("--judge-base-url", help="Server of an openai-compatible judge (openai backend).")
    judge.add_argument("--judge-batch-size", type=int, default=4, help="Dialogues judged at once (default: 4).")
    judge.add_argument(
        "--judge-max-new-tokens", type=int, default=96, help="Longest judge answer in tokens (default: 96)."
    )
    return parser


def _judge(args: argparse.Namespace, source: SyntheticSource, output: Path) -> dict | None:
    """The judge section of the report, or None when no --judge-model is given."""
    if not args.judge_model:
        return None
    from ..quality.judge import JUDGE_CACHE_NAME, build_judge_backend, judge_dialogues, summarize_judgements

    backend = build_judge_backend(
        args.judge_backend,
        args.judge_model,
        device=args.judge_device,
        base_url=args.judge_base_url,
        batch_size=args.judge_batch_size,
    )
    ids = source.dialogue_ids or [f"dialogue-{index}" for index in range(len(source.dialogues))]
    try:
        judgements = judge_dialogues(
            backend,
            source.dialogues,
            ids,
            source.benchmark,
            output / JUDGE_CACHE_NAME,
            max_new_tokens=args.judge_max_new_tokens,
            seed=args.seed,
        )
    finally:
        backend.close()
    return summarize_judgements(judgements, backend.model_name)


@reports_errors("erc-synth quality")
def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    from ..benchmarks import get_benchmark
    from ..quality.outputs import config_report_folder, write_report
    from ..quality.reference import load_reference
    from ..quality.report import QualitySettings, compute_report
    from ..quality.sources import load_dataset_config, load_real_split, load_run
    from ..stats import default_data_dir

    settings = QualitySettings(**{spec.name: getattr(args, spec.name) for spec in fields(QualitySettings)})
    classifier_options = ClassifierOptions(
        **{spec.name: getattr(args, spec.name) for spec in fields(ClassifierOptions)}
    )
    if args.dataset_config:
        source = load_dataset_config(args.source, args.dataset_config, args.benchmark)
        output = args.output or config_report_folder(args.source, args.dataset_config)
    else:
        source = load_run(args.source)
        if args.benchmark:
            source.benchmark = get_benchmark(args.benchmark)
        output = args.output or args.source / "quality"
    data_dir = args.data_dir or default_data_dir(source.benchmark.name)
    real = real_test = None
    if data_dir is not None:
        real = load_real_split(source.benchmark, data_dir, "train")
        real_test = load_real_split(source.benchmark, data_dir, "test")
    reference = load_reference(source.benchmark) if real is None else None
    classifier = classifier_options.build(source.benchmark)  # a classifier for other labels fails before the judge
    judge = _judge(args, source, output)
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
