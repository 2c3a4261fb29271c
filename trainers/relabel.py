"""Teacher labels for a synthetic config: a classifier trained on the real benchmark labels every synthetic utterance
in its dialogue context (the GAL recipe: the generator's own labels are not trusted), and the result is written as a
derived config (`meld_natural` -> `meld_natural_teacher`, `erc_synth_datasets.derived`).

The teacher is any classifier folder saved by `erc-synth train` (`<run>/model`); the `results.json` of its run, when
beside it, gives its real-test weighted F1 and how many real train dialogues it saw, which the card records. A teacher
may see only the real data its comparison allows: in a low-resource comparison, the dialogues the Org baseline trains
on (train it with the same `max_train_dialogues`), never the whole split.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from erc_synth_datasets.build import ConfigBuild
from erc_synth_datasets.derived import DerivedLabels, read_config_rows, write_derived_config
from erc_synth_datasets.vocabulary import REAL_SOURCE, ConfigName, LabelSource, TestSetName

from .errors import TrainingConfigError
from .models import load_classifier_config
from .predict import SavedClassifier
from .results import read_results

__all__ = ["RELABEL_SOURCES", "RelabelOptions", "relabel_with_teacher", "teacher_record"]


#: The label sources `erc-synth relabel` writes (the generator's own labels are the built config's).
RELABEL_SOURCES = tuple(source.value for source in LabelSource if source is not LabelSource.GENERATOR)
_TEACHER_BATCH_SIZE = 64


@dataclass
class RelabelOptions:
    """Options of `erc-synth relabel` that every label source shares, and the teacher's.

    Args:
        dataset: A dataset folder built by erc-synth.
        dataset_config: The built config to relabel (e.g. meld_natural).
        teacher: A classifier folder saved by `erc-synth train` (its `model` folder), trained on the real benchmark.
        label_source: `teacher` (a classifier trained on the real data) or `resampled` (the generator, k times;
            its options are `generation.resample.ResampleOptions`).
        batch_size: Utterances per forward pass of the teacher (default 64); requests decoding at once for the
            generator (default 8).
        device: Torch device (default: cuda when available, else cpu).
    """

    dataset: str = field(metadata={"help": "A dataset folder built by erc-synth.", "positional": True})
    dataset_config: str = field(default="", metadata={"help": "The built config to relabel, e.g. meld_natural."})
    teacher: str = field(
        default="",
        metadata={
            "help": "[teacher] A classifier folder saved by `erc-synth train` (<run>/model), trained on real data."
        },
    )
    label_source: str = field(
        default=LabelSource.TEACHER.value,
        metadata={
            "choices": list(RELABEL_SOURCES),
            "help": "teacher: a classifier trained on the real data labels every utterance (<config>_teacher); "
            "resampled: the generator labels each dialogue's fixed text --samples times, the vote shares are the "
            "soft label (<config>_resampled).",
        },
    )
    batch_size: int | None = field(
        default=None,
        metadata={
            "range": "[1, 65536]",
            "help": f"Utterances per forward pass of a teacher (default {_TEACHER_BATCH_SIZE}), or requests "
            "decoding at once for the generator (default 8).",
        },
    )
    device: str | None = field(
        default=None,
        metadata={"help": "Torch device of the teacher or a local generator (default: cuda if available)."},
    )

    def __post_init__(self) -> None:
        if not self.dataset_config:
            raise TrainingConfigError("--dataset-config is required: the built config to relabel (e.g. meld_natural).")
        if self.label_source not in RELABEL_SOURCES:
            raise TrainingConfigError(
                f"--label-source must be one of {list(RELABEL_SOURCES)}, but got {self.label_source!r}."
            )
        if self.label_source == LabelSource.TEACHER.value and not self.teacher:
            raise TrainingConfigError(
                "--teacher is required with --label-source teacher (the default): a classifier folder saved by "
                "`erc-synth train`."
            )
        if self.label_source != LabelSource.TEACHER.value and self.teacher:
            raise TrainingConfigError(
                f"--teacher applies to --label-source teacher only, but got --label-source {self.label_source}."
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise TrainingConfigError(f"--batch-size must be at least 1, but got {self.batch_size}.")


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def teacher_record(folder: str | Path, benchmark: str) -> dict[str, Any]:
    """Who the teacher is: its folder, architecture, backbone, weights' sha256 and, from the `results.json` of its
    training run (the folder's parent) when there is one, its real-test weighted F1 and real train dialogues."""
    folder = Path(folder)
    config = load_classifier_config(folder)
    record: dict[str, Any] = {
        "path": str(folder),
        "architecture": config.architecture,
        "backbone": config.backbone,
        "weights_sha256": _sha256(folder / "model.safetensors"),
        "real_test_weighted_f1": None,
        "real_train_dialogues": None,
    }
    results = folder.parent / "results.json"
    if results.is_file():
        data = read_results(results)
        real = data.get("test", {}).get(str(TestSetName(benchmark, REAL_SOURCE)), {})
        if "weighted_f1" in real:
            record["real_test_weighted_f1"] = 100.0 * real["weighted_f1"]
        record["real_train_dialogues"] = data.get("settings", {}).get("data", {}).get("max_train_dialogues")
        record["seed"] = data.get("seed")
    return record


def relabel_with_teacher(options: RelabelOptions) -> ConfigBuild:
    """Labels every utterance of every split of `options.dataset_config` with the teacher; writes `<config>_teacher`.

    Raises:
        TrainingConfigError: the teacher is not a saved classifier, or its head's labels are not the benchmark's
            labels in canonical order (refused before anything heavy loads).
        BuildError: the config is not in the dataset folder.
    """
    from datasets import Dataset

    source = read_config_rows(options.dataset, options.dataset_config)
    name = ConfigName.parse(options.dataset_config)
    if name.is_derived:
        raise TrainingConfigError(
            f"--dataset-config {options.dataset_config!r} is already derived; relabel the built config {name.base} "
            "instead."
        )
    benchmark = source.build.benchmark
    classifier = SavedClassifier(
        options.teacher,
        benchmark=benchmark,
        batch_size=options.batch_size or _TEACHER_BATCH_SIZE,
        device=options.device,
    )
    features = source.build.features
    labels: dict[str, DerivedLabels] = {}
    for split in source.splits:
        rows = source.splits[split]
        dialogues = Dataset.from_list([{k: row[k] for k in features} for row in rows], features=features)
        probs = [p for _, batch, _ in classifier.label_batches(dialogues) for p in batch.tolist()]
        out = DerivedLabels(emotions=[], probs=[], weights=[])
        start = 0
        for row in rows:
            end = start + len(row["utterances"])
            dialogue = probs[start:end]
            out.emotions.append([source.labels[max(range(len(p)), key=p.__getitem__)] for p in dialogue])
            out.probs.append([[round(x, 6) for x in p] for p in dialogue])
            out.weights.append([1.0] * len(dialogue))
            start = end
        labels[split] = out
    record = {"source": LabelSource.TEACHER.value, "teacher": teacher_record(options.teacher, benchmark.name)}
    target = ConfigName(name.benchmark, name.mode, persona=name.persona, labels=LabelSource.TEACHER)
    return write_derived_config(source, target, labels, label_source=record)
