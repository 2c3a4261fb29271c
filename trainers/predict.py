"""`erc-synth predict`: label every utterance of a file of dialogues with a saved classifier.

The dialogues are a JSONL file (one `{"speakers": [...], "utterances": [...]}` object a line, optional
`dialogue_id`) or a split of a built dataset folder. Each utterance is encoded exactly as in training (the same
context, truncation and speaker memory: `trainers.protocol.encode_for_model`); the output is one JSON line per
utterance with the predicted label and the probability of every label.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from erc_synth_datasets.benchmarks import Benchmark, get_benchmark
from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.files import atomic_path
from erc_synth_datasets.threads import apply_torch_threads, num_threads_field

from .errors import TrainingConfigError
from .models import load_classifier, load_classifier_config

if TYPE_CHECKING:
    import torch
    from datasets import Dataset

    from erc_synth_datasets.benchmarks import Benchmark

__all__ = [
    "PREDICTIONS_NAME",
    "PredictArguments",
    "SavedClassifier",
    "dialogues_dataset",
    "predict",
    "read_dialogues_jsonl",
]

PREDICTIONS_NAME = "predictions.jsonl"


@dataclass
class PredictArguments:
    """Options of `erc-synth predict` (one field per command-line flag)."""

    model: str = field(
        metadata={"help": "A saved classifier folder (the `model` folder of a training run).", "positional": True}
    )
    dialogues: str = field(
        metadata={
            "help": 'A JSONL file of dialogues ({"speakers": [...], "utterances": [...]} a line, optional '
            "dialogue_id), or a built dataset folder (with --dataset-config and --split).",
            "positional": True,
        }
    )
    output_dir: Path = field(
        default=Path("."),
        metadata={
            "help": "Where the predictions go, one JSON line per utterance: a folder (they are written to its "
            "predictions.jsonl) or, when the path ends in .jsonl, that file.",
            "metavar": "DIR_OR_FILE.jsonl",
        },
    )
    dataset_config: str | None = field(
        default=None, metadata={"help": "Config of a built dataset folder (e.g. meld_natural)."}
    )
    split: str = field(default="test", metadata={"help": "Split of a built dataset folder."})
    batch_size: int = field(default=32, metadata={"range": "[1, 65536]", "help": "Utterances per forward pass."})
    device: str | None = field(
        default=None, metadata={"help": "Torch device (default: cuda when available, else cpu)."}
    )
    num_threads: int | None = num_threads_field("the classifier")

    @property
    def output(self) -> Path:
        """The predictions file."""
        path = Path(self.output_dir)
        return path if path.suffix == ".jsonl" else path / PREDICTIONS_NAME

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, but got {self.batch_size}.")
        if Path(self.dialogues).is_dir() and not self.dataset_config:
            raise ConfigError(
                f"{self.dialogues!r} is a dataset folder; name the config to label with --dataset-config "
                "(e.g. meld_natural) and the split with --split."
            )


def _string_list(value: Any, key: str, where: str) -> list[str]:
    # the loaders import datasets (through the schema): loaded only when a data file is read.
    from erc_synth_datasets.loaders import DataFileError

    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DataFileError(f"{where}: {key!r} must be a list of strings, but got {json.dumps(value)[:80]}.")
    return value


def read_dialogues_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The dialogues of a JSONL file: `dialogue_id` (default: the line number), `speakers`, `utterances`.

    Raises:
        DataFileError: a line is not a JSON object with equally long `speakers` and `utterances` string lists
            (the message names the file and line), or the file holds no dialogue.
    """
    # the loaders import datasets (through the schema): loaded only when a data file is read.
    from erc_synth_datasets.loaders import DataFileError
    from erc_synth_datasets.loaders.generic import iter_jsonl_objects  # heavy: datasets, as above

    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{str(path)!r} does not exist or is not a file; give a JSONL file of dialogues.")
    dialogues = []
    for number, record in iter_jsonl_objects(path):
        where = f"{path}:{number}"
        speakers = _string_list(record.get("speakers"), "speakers", where)
        utterances = _string_list(record.get("utterances"), "utterances", where)
        if len(speakers) != len(utterances) or not utterances:
            raise DataFileError(
                f"{where}: a dialogue needs one speaker per utterance and at least one utterance, but got "
                f"{len(speakers)} speakers and {len(utterances)} utterances."
            )
        dialogue_id = str(record.get("dialogue_id", number))
        dialogues.append({"dialogue_id": dialogue_id, "speakers": speakers, "utterances": utterances})
    if not dialogues:
        raise DataFileError(f"{path}: no dialogue in the file; expected one JSON object a line.")
    return dialogues


def dialogues_dataset(rows: Sequence[dict[str, Any]], labels: list[str]) -> Dataset:
    """Unlabelled dialogues (`dialogue_id`, `speakers`, `utterances`) as a `Dataset` in the dialogue schema.

    Only the columns `flatten_dialogues` reads; the emotions are placeholders (label 0 of `labels`, the classifier's
    labels), never read as gold labels.
    """
    from datasets import ClassLabel, Dataset, Features, List, Value

    features = Features(
        {
            "dialogue_id": Value("string"),
            "speakers": List(Value("string")),
            "utterances": List(Value("string")),
            "emotions": List(ClassLabel(names=labels)),
        }
    )
    records = [
        {
            "dialogue_id": row["dialogue_id"],
            "speakers": row["speakers"],
            "utterances": row["utterances"],
            "emotions": [0] * len(row["utterances"]),
        }
        for row in rows
    ]
    return Dataset.from_list(records, features=features)


def _load_dialogues(args: PredictArguments, labels: list[str]) -> tuple[Dataset, bool]:
    """The dialogues to label as a `Dataset` whose `emotions` use the classifier's labels, and whether they carry
    gold labels (a dataset split does, a JSONL file does not)."""
    from datasets import load_dataset

    # the loaders import datasets (through the schema): loaded only when a data file is read.
    from erc_synth_datasets.loaders import DataFileError

    if Path(args.dialogues).is_dir():
        try:
            dataset = load_dataset(args.dialogues, args.dataset_config, split=args.split)
        except (ValueError, FileNotFoundError) as err:
            raise DataFileError(
                f"Could not load split {args.split!r} of config {args.dataset_config!r} from {args.dialogues!r}: {err}"
            ) from err
        return dataset, True
    return dialogues_dataset(read_dialogues_jsonl(args.dialogues), labels), False


def _batches(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


class SavedClassifier:
    """A classifier folder saved by `erc-synth train`, loaded to label dialogues.

    Every utterance is encoded with its dialogue context exactly as in training (`protocol.encode_for_model`: the
    same context, truncation and speaker memory). `erc-synth predict` labels through it, and so does
    `erc-synth quality --classifier` (`predict_dialogues` and `describe` are the quality report's
    `erc_synth_datasets.quality.models.DialogueClassifier`).

    Args:
        folder: The saved classifier folder (`<output_dir>/model` of a training run).
        benchmark: When given, the head must predict this benchmark's labels in its canonical order.
        batch_size: Utterances per forward pass.
        device: Torch device (default: cuda when available, else cpu).

    Raises:
        TrainingConfigError: the folder is not a saved classifier, has no tokenizer, or its head's labels are not
            the benchmark's labels in the benchmark's order.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        benchmark: str | Benchmark | None = None,
        batch_size: int = 32,
        device: str | None = None,
    ) -> None:
        import torch
        from transformers import AutoTokenizer

        # torch and transformers: loaded only when a model is built or loaded.
        from .models.base import check_label_order

        if batch_size < 1:
            raise TrainingConfigError(f"batch_size must be at least 1, but got {batch_size}.")
        self.folder = str(folder)
        self.config = load_classifier_config(folder)
        if benchmark is not None:  # before anything heavy loads
            benchmark = benchmark if isinstance(benchmark, Benchmark) else get_benchmark(benchmark)
            check_label_order(self.config, list(benchmark.labels), f"benchmark {benchmark.name!r}")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.folder, truncation_side="left")
        except (OSError, ValueError) as err:
            raise TrainingConfigError(
                f"{self.folder!r} has no tokenizer; save the backbone's tokenizer beside the classifier "
                f"(tokenizer.save_pretrained) as training does: {err}"
            ) from err
        self.model, self.labels = load_classifier(self.folder)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device).eval()
        self.batch_size = batch_size

    def label_batches(self, dialogues: Dataset) -> Iterator[tuple[range, torch.Tensor, torch.Tensor]]:
        """Labels every utterance of `dialogues` (the dialogue schema), in dialogue order then turn order.

        Yields:
            Per batch: the utterance rows it holds, the probability of every label (rows x labels, on the cpu) and
            the rows' `emotions` ids (their gold labels when the dialogues carry them).
        """
        import torch

        # torch, datasets and transformers: loaded only when a classifier runs.
        from .data import ErcDataCollator
        from .protocol import encode_for_model  # heavy: torch, datasets and transformers, as above

        model_args = self.model.config.model_arguments()
        encoded = encode_for_model(dialogues, self.tokenizer, model_args, type(self.model))
        collator = ErcDataCollator(pad_token_id=self.tokenizer.pad_token_id)
        for rows in _batches(len(encoded), self.batch_size):
            batch = collator([encoded[i] for i in rows])
            gold = batch.pop("labels")
            with torch.no_grad():
                logits = self.model(**{key: value.to(self.device) for key, value in batch.items()}).logits
            yield rows, torch.softmax(logits.float(), dim=-1).cpu(), gold

    def predict_dialogues(self, dialogues: Sequence[Any]) -> list[list[int]]:
        """The predicted label id (the head's order) of every utterance, one list per dialogue.

        Args:
            dialogues: Objects with `speakers` and `utterances` (`erc_synth_datasets.quality.metrics.Dialogue`).
        """
        rows = [
            {"dialogue_id": str(index), "speakers": list(d.speakers), "utterances": list(d.utterances)}
            for index, d in enumerate(dialogues)
        ]
        if not any(row["utterances"] for row in rows):
            return [[] for _ in rows]
        batches = self.label_batches(dialogues_dataset(rows, self.labels))
        predicted = [label for _, probabilities, _ in batches for label in probabilities.argmax(dim=-1).tolist()]
        per_dialogue, start = [], 0
        for row in rows:
            per_dialogue.append(predicted[start : start + len(row["utterances"])])
            start += len(row["utterances"])
        return per_dialogue

    def describe(self) -> dict[str, Any]:
        """The classifier's folder, architecture and the benchmark it was trained on (for a report's record)."""
        return {"path": self.folder, "architecture": self.config.architecture, "benchmark": self.config.benchmark}


def predict(args: PredictArguments) -> int:
    """Labels the dialogues and writes the predictions; returns the number of utterances labelled.

    Raises:
        TrainingConfigError: the folder is not a saved classifier, or a dataset's labels are not its labels.
        DataFileError: the dialogues cannot be read.
    """
    # the schema's Features import datasets: loaded only when dialogues are flattened or built.
    from erc_synth_datasets.schema import flatten_dialogues

    # torch and transformers: loaded only when a model is built or loaded.
    from .models.base import check_label_order

    config = load_classifier_config(args.model)
    labels = config.labels
    dialogues, has_gold = _load_dialogues(args, labels)  # bad input is reported before the weights load
    if has_gold:
        names = list(dialogues.features["emotions"].feature.names)
        check_label_order(config, names, f"config {args.dataset_config!r} of {args.dialogues!r}")
    apply_torch_threads(args.num_threads)
    classifier = SavedClassifier(args.model, batch_size=args.batch_size, device=args.device)
    utterances = flatten_dialogues(dialogues, max_context=0).select_columns(["dialogue_id", "turn", "speaker"])
    count = 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.output) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for rows, probabilities, gold in classifier.label_batches(dialogues):
            for j, i in enumerate(rows):
                record = dict(utterances[i])
                record["label"] = labels[int(probabilities[j].argmax())]
                record["probabilities"] = {
                    label: round(float(p), 6) for label, p in zip(labels, probabilities[j].tolist(), strict=True)
                }
                if has_gold:
                    record["gold"] = labels[int(gold[j])]
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += len(rows)
    return count
