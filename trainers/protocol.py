"""The protocol of one run: optional stage 1 on a synthetic train split, stage 2 on the real train split, then every
configured test split, each stage selecting its best checkpoint on its own validation split.

Org variant: stage 2 only. Nat/Bal variants (sequential, the paper's): stage 1 on `<benchmark>_natural` /
`<benchmark>_balanced` (or a config derived from one: relabelled by a teacher, curated), then stage 2. Joint variants
(`joint_config`): one stage over the real and the synthetic train splits together, the synthetic rows' loss weighted
by `synthetic_weight`, selected on the real validation split. For `emoone` every stage first trains a teacher from
the stage's starting weights, then the student on grayscale labels from it.

A fair comparison trains every stage to convergence: evaluation every epoch, the best checkpoint by validation
weighted F1, early stopping with `early_stopping_patience`, the same maximum epochs for all variants; the
steps-matched Org (`match_steps_of`) trains on the real data for as many optimiser steps as the pretrained variants
took in both stages together. Each stage records the epochs it ran and the epoch of the checkpoint it kept.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, concatenate_datasets
from transformers import Trainer

from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.threads import apply_torch_threads
from erc_synth_datasets.vocabulary import REAL_SOURCE, TestSetName

from .baselines import fit_baselines, score_baselines
from .config import DataArguments, ModelArguments, variant_of
from .data import ErcDataCollator, count_utterances, encode_dialogues, load_real, load_synthetic
from .errors import EvaluationCountError, EvaluationOrderError, TrainingConfigError
from .knowledge import add_knowledge
from .metrics import compute_scores, make_compute_metrics
from .models import build_model, get_model_class
from .models.base import ErcClassifier, resolve_backbone
from .models.card import write_model_card
from .models.emoone import grayscale_labels
from .results import RESULTS_NAME, environment_versions, read_results, write_json_atomic
from .training_args import ErcTrainingArguments

__all__ = ["ErcTrainer", "Stage", "encode_for_model", "matched_steps", "run_protocol", "test_set_name"]

logger = logging.getLogger(__name__)


def test_set_name(benchmark: str, source: str) -> str:
    """`meld_real` for the real test split, the config name (`meld_balanced`) for a synthetic one."""
    return str(TestSetName(benchmark, REAL_SOURCE)) if source == REAL_SOURCE else source


@dataclass
class Stage:
    """One training stage: its train and validation splits (dialogue schema) and its schedule.

    `extra_train` (the joint protocol) is trained together with `train`, each of its rows weighted `extra_weight`.
    """

    name: str
    source: str
    train: Dataset
    validation: Dataset
    num_train_epochs: float
    learning_rate: float
    extra_train: Dataset | None = None
    extra_source: str | None = None
    extra_weight: float = 1.0
    max_steps: int | None = None


def encode_for_model(
    dialogues: Dataset, tokenizer: Any, model_args: ModelArguments, model_class: type[ErcClassifier]
) -> Dataset:
    """The encoded rows a classifier of `model_class` takes: one per utterance, with the speaker memory (compm) or
    the selected knowledge sentences (todkat) when it needs them."""
    encoded = encode_dialogues(dialogues, tokenizer, model_args, with_memory=model_class.needs_memory)
    if model_class.needs_knowledge:
        encoded = add_knowledge(encoded, dialogues, tokenizer, model_args)
    return encoded


def _head(dataset: Dataset, n: int | None) -> Dataset:
    return dataset if n is None or n >= len(dataset) else dataset.select(range(n))


def _stage_args(args: ErcTrainingArguments, output_dir: Path, stage: Stage) -> ErcTrainingArguments:
    return dataclasses.replace(
        args,
        output_dir=str(output_dir),
        num_train_epochs=stage.num_train_epochs,
        learning_rate=stage.learning_rate,
        max_steps=stage.max_steps if stage.max_steps is not None else args.max_steps,
    )


def _with_targets(encoded: Dataset, num_labels: int, weight: float) -> Dataset:
    """`encoded` with `target_probs` (one-hot from the labels where the data has none) and `sample_weight` (times
    `weight`) on every row, so that real and synthetic rows can share a batch."""

    def add(batch: dict[str, list]) -> dict[str, list]:
        if "target_probs" not in batch:
            batch["target_probs"] = [[float(i == label) for i in range(num_labels)] for label in batch["labels"]]
        weights = batch.get("sample_weight") or [1.0] * len(batch["labels"])
        batch["sample_weight"] = [float(w) * weight for w in weights]
        return batch

    return encoded.map(add, batched=True, desc="Adding targets and weights")


def _drop_dropped(encoded: Dataset, soft_targets: bool) -> Dataset:
    """Training rows of a derived config: without the utterances curation dropped (weight 0), and without its soft
    targets when `soft_targets` is off."""
    if "sample_weight" in encoded.column_names:
        encoded = encoded.filter(lambda w: w > 0, input_columns="sample_weight", desc="Dropping curated-out rows")
    if not soft_targets and "target_probs" in encoded.column_names:
        encoded = encoded.remove_columns("target_probs")
    return encoded


def _epochs_record(trainer) -> dict[str, Any]:
    """The epochs a stage ran and the epoch of the checkpoint it kept (from the evaluation log)."""
    evaluations = [e for e in trainer.state.log_history if "eval_weighted_f1" in e]
    best_epoch = None
    if evaluations and trainer.state.best_metric is not None:
        best = [e for e in evaluations if e["eval_weighted_f1"] == trainer.state.best_metric]
        best_epoch = best[0].get("epoch") if best else None
    return {
        "epochs_run": trainer.state.epoch,
        "best_epoch": best_epoch,
        "validation_weighted_f1_by_epoch": [
            {"epoch": e.get("epoch"), "weighted_f1": e["eval_weighted_f1"]} for e in evaluations
        ],
    }


def matched_steps(run_dirs: list[str]) -> int:
    """The most optimiser steps, all stages together, that any of the finished runs in `run_dirs` took.

    Raises:
        TrainingConfigError: a run has not finished (no complete results.json).
    """
    totals = []
    for run_dir in run_dirs:
        try:
            results = read_results(Path(run_dir))
        except (OSError, ValueError) as err:
            raise TrainingConfigError(
                f"match_steps_of: {run_dir!r} has no finished results.json to take the step count from ({err}); "
                "run the pretrained variants first."
            ) from None
        totals.append(sum(int(stage.get("global_step") or 0) for stage in results.get("stages", [])))
    if not totals or max(totals) < 1:
        raise TrainingConfigError(f"match_steps_of: no optimiser steps recorded in {run_dirs}.")
    return max(totals)


class ErcTrainer(Trainer):
    """`Trainer` whose evaluation and prediction keep the rows in dataset order.

    With `train_sampling_strategy="group_by_length"`, `Trainer` also groups evaluation rows by length in a shuffled
    order; predictions then no longer line up with the split, the teacher's grayscale labels with the training rows,
    or `erc-synth predict` output with its input. Training batches are still grouped by length.
    """

    def _get_eval_sampler(self, eval_dataset: Dataset) -> torch.utils.data.Sampler | None:
        if self.args.world_size <= 1:
            return torch.utils.data.SequentialSampler(eval_dataset)
        return None  # Accelerate shards the rows in order and `gather_for_metrics` restores it


class _TimeBudget:
    """Stops training after `seconds` (a `TrainerCallback`); the stage then saves, selects and evaluates as usual."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.started, self.stopped = seconds, 0.0, False

    def __getattr__(self, name: str):  # every other TrainerCallback event: do nothing
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.time()

    def on_step_end(self, args, state, control, **kwargs):
        if time.time() - self.started > self.seconds:
            self.stopped = control.should_training_stop = True
            control.should_evaluate = control.should_save = args.eval_strategy != "no"


def _make_trainer(model, args, train, validation, collator, tokenizer, labels, *, early_stopping: bool = True):
    trainer = ErcTrainer(
        model=model,
        args=args,
        data_collator=collator,
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        compute_metrics=make_compute_metrics(labels),
    )
    if args.max_train_seconds is not None:
        trainer.add_callback(_TimeBudget(args.max_train_seconds))
    if early_stopping and args.early_stopping_patience is not None and args.eval_strategy != "no":
        from transformers import EarlyStoppingCallback

        trainer.add_callback(EarlyStoppingCallback(early_stopping_patience=args.early_stopping_patience))
    return trainer


def _predict_logits(trainer, dataset: Dataset, expected: int, what: str) -> np.ndarray:
    """Logits for every row of `dataset`, in the order of its rows, gathered over processes.

    Raises:
        EvaluationCountError: not one prediction per utterance of the split.
        EvaluationOrderError: the predictions' gold labels are not the rows' labels in order.
    """
    output = trainer.predict(dataset, metric_key_prefix="predict")
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    if len(logits) != expected or len(dataset) != expected:
        raise EvaluationCountError(
            f"{what}: {len(logits)} predictions for {len(dataset)} encoded rows, but the split has {expected} "
            "utterances; every utterance must be evaluated exactly once."
        )
    if output.label_ids is not None and not np.array_equal(
        np.asarray(output.label_ids), np.asarray(dataset["labels"])
    ):
        raise EvaluationOrderError(
            f"{what}: the predictions are not in the order of the split's rows (their gold labels differ from the "
            "rows' labels), so they cannot be scored against the split; the evaluation sampler must keep the order."
        )
    return logits


def _add_teacher_labels(model, stage_args, train, validation, collator, tokenizer, labels, model_args) -> Dataset:
    """emoone: trains a teacher from the student's starting weights, returns `train` with its grayscale labels."""
    teacher = copy.deepcopy(model)
    epochs = model_args.teacher_num_train_epochs or stage_args.num_train_epochs
    teacher_args = dataclasses.replace(
        stage_args, output_dir=str(Path(stage_args.output_dir) / "teacher"), num_train_epochs=epochs
    )
    trainer = _make_trainer(teacher, teacher_args, train, validation, collator, tokenizer, labels)
    trainer.train()
    logits = _predict_logits(trainer, train, len(train), "teacher on the train split")
    probs = torch.softmax(torch.as_tensor(logits, dtype=torch.float32), dim=-1)
    soft = grayscale_labels(probs, torch.as_tensor(train["labels"]), model_args.grayscale)
    _remove_checkpoints(trainer, teacher_args.output_dir)
    del trainer, teacher
    return train.add_column("soft_labels", soft.tolist())


def _remove_checkpoints(trainer, output_dir: str | Path) -> None:
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        for path in Path(output_dir).glob("checkpoint-*"):
            shutil.rmtree(path, ignore_errors=True)


def run_protocol(
    model_args: ModelArguments, data_args: DataArguments, training_args: ErcTrainingArguments
) -> dict[str, Any]:
    """Runs stage 1 (if `pretrain_config` is set), stage 2 and the evaluation on every test split.

    Writes `<output_dir>/results.json` (atomically, on the main process) and, with `save_final_model`,
    `<output_dir>/model`.

    Returns:
        The content of `results.json`.

    Raises:
        LabelSpaceError: a synthetic config does not use the benchmark's label names.
        EvaluationCountError: a test split was not evaluated utterance for utterance.
    """
    from transformers import AutoTokenizer, set_seed

    started = time.time()
    threads = apply_torch_threads(training_args.num_threads)
    benchmark = get_benchmark(data_args.benchmark)
    labels = list(benchmark.labels)
    variant = variant_of(data_args, match_steps=bool(training_args.match_steps_of))
    output_dir = Path(training_args.output_dir)
    model_class = get_model_class(model_args.architecture)

    real, real_revision = load_real(data_args, benchmark)
    synthetic, synthetic_revisions = {}, {}
    trained_on = [data_args.pretrain_config, data_args.joint_config]
    for config in dict.fromkeys([c for c in [*trained_on, *data_args.test_configs] if c]):
        synthetic[config], synthetic_revisions[config] = load_synthetic(data_args, config, benchmark)

    tokenizer = AutoTokenizer.from_pretrained(resolve_backbone(model_args.model_name_or_path), truncation_side="left")
    collator = ErcDataCollator(
        pad_token_id=tokenizer.pad_token_id, pad_to_multiple_of=8 if torch.cuda.is_available() else None
    )

    def encode(dialogues: Dataset) -> Dataset:
        return encode_for_model(dialogues, tokenizer, model_args, model_class)

    stages: list[Stage] = []
    if data_args.pretrain_config:
        pre = synthetic[data_args.pretrain_config]
        stages.append(
            Stage(
                "pretrain",
                data_args.pretrain_config,
                pre["train"],
                pre["validation"],
                training_args.pretrain_num_train_epochs or training_args.num_train_epochs,
                training_args.pretrain_learning_rate or training_args.learning_rate,
            )
        )
    joint = synthetic[data_args.joint_config] if data_args.joint_config else None
    stages.append(
        Stage(
            "joint" if joint is not None else "finetune",
            REAL_SOURCE,
            real["train"],
            real["validation"],
            training_args.num_train_epochs,
            training_args.learning_rate,
            extra_train=joint["train"] if joint is not None else None,
            extra_source=data_args.joint_config,
            extra_weight=data_args.synthetic_weight,
            max_steps=matched_steps(training_args.match_steps_of) if training_args.match_steps_of else None,
        )
    )

    set_seed(training_args.seed)
    model: ErcClassifier = build_model(model_args, len(labels), labels=labels, benchmark=benchmark.name)
    stage_records, trainer = [], None
    for stage in stages:
        stage_dir = output_dir / stage.name
        args = _stage_args(training_args, stage_dir, stage)
        train = _drop_dropped(encode(_head(stage.train, data_args.max_train_dialogues)), data_args.soft_targets)
        validation = _drop_dropped(encode(_head(stage.validation, data_args.max_eval_dialogues)), False)
        if stage.extra_train is not None:
            extra = _drop_dropped(
                encode(_head(stage.extra_train, data_args.max_train_dialogues)), data_args.soft_targets
            )
            train = _with_targets(train, len(labels), 1.0)
            extra = _with_targets(extra, len(labels), stage.extra_weight).cast(train.features)
            train = concatenate_datasets([train, extra])
        if model_class.needs_teacher:
            train = _add_teacher_labels(model, args, train, validation, collator, tokenizer, labels, model_args)
        # The steps-matched Org trains for its step count: no early stop.
        trainer = _make_trainer(
            model, args, train, validation, collator, tokenizer, labels, early_stopping=stage.max_steps is None
        )
        output = trainer.train()
        stage_records.append(
            {
                "name": stage.name,
                "train_split": f"{stage.source}/train"
                + (f" + {stage.extra_source}/train (weight {stage.extra_weight:g})" if stage.extra_source else ""),
                "validation_split": f"{stage.source}/validation",
                "train_utterances": len(train),
                "validation_utterances": len(validation),
                "num_train_epochs": stage.num_train_epochs,
                "max_steps": stage.max_steps,
                "learning_rate": stage.learning_rate,
                "global_step": output.global_step,
                "best_metric": trainer.state.best_metric,
                "best_checkpoint": trainer.state.best_model_checkpoint,
                **_epochs_record(trainer),
                "soft_targets": "target_probs" in train.column_names,
                "train_runtime_s": output.metrics.get("train_runtime"),
                "train_samples_per_second": output.metrics.get("train_samples_per_second"),
                "teacher": model_class.needs_teacher,
                "stopped_by_time_budget": any(
                    getattr(c, "stopped", False)
                    for c in trainer.callback_handler.callbacks
                    if isinstance(c, _TimeBudget)
                ),
            }
        )
        if not training_args.keep_checkpoints:
            _remove_checkpoints(trainer, stage_dir)

    test_sources = {test_set_name(benchmark.name, REAL_SOURCE): real["test"]}
    test_sources.update({test_set_name(benchmark.name, c): synthetic[c]["test"] for c in data_args.test_configs})
    tests = {}
    for name, dialogues in test_sources.items():
        expected = count_utterances(dialogues)
        encoded = encode(dialogues)
        logits = _predict_logits(trainer, encoded, expected, f"Test set {name!r}")
        tests[name] = compute_scores(np.argmax(logits, axis=-1), encoded["labels"], labels)
    fitted = fit_baselines(_head(real["train"], data_args.max_train_dialogues), seed=training_args.seed)
    baselines = {name: score_baselines(fitted, dialogues, labels) for name, dialogues in test_sources.items()}

    results = {
        "status": "complete",
        "benchmark": benchmark.name,
        "architecture": model_args.architecture,
        "variant": variant,
        "model": model_args.model_name_or_path,
        "seed": training_args.seed,
        "labels": labels,
        "test": tests,
        "baselines": baselines,
        "stages": stage_records,
        "data": {"real": real_revision, "synthetic": synthetic_revisions},
        "settings": {
            "model": asdict(model_args),
            "data": asdict(data_args),
            "training": training_args.to_dict(),
            "world_size": trainer.accelerator.num_processes,
        },
        "threads": threads.to_dict(),
        "versions": environment_versions(),
        "wall_time_s": time.time() - started,
    }
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        if training_args.save_final_model:
            trainer.model.save_pretrained(output_dir / "model")
            tokenizer.save_pretrained(output_dir / "model")
            write_model_card(output_dir / "model", results)
        write_json_atomic(output_dir / RESULTS_NAME, results)
    trainer.accelerator.wait_for_everyone()
    return results
