"""The settings of one training run: model, data and `TrainingArguments`, one YAML key or flag per field.

`ErcTrainingArguments` subclasses `transformers.TrainingArguments` only to add fields and change defaults (as TRL's
configs do), so every `Trainer` option is available from the YAML file and the command line.

This module imports no transformers (nor torch): `erc-synth train --help` reads `ModelArguments`, `DataArguments`
and `ErcTrainingFields` from it. The fields `ErcTrainingArguments` adds or changes are declared in the plain
dataclass `ErcTrainingFields`; `ErcTrainingArguments` itself (`ErcTrainingFields` + `TrainingArguments`) lives in
`trainers.training_args` (import it from there; this module never imports that one, so the two form no cycle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from erc_synth_datasets.threads import num_threads_field
from erc_synth_datasets.vocabulary import ConfigName, Variant, VocabularyError

from .errors import TrainingConfigError

#: Largest seed numpy's and torch's generators accept (2**32 - 1).
SEED_MAX = 2**32 - 1

__all__ = [
    "DataArguments",
    "ErcTrainingFields",
    "ModelArguments",
    "POOLINGS",
    "VARIANTS",
    "variant_of",
]

VARIANTS = Variant.values()
POOLINGS = ("first", "mean", "target_mean")


def _check_local_model(name: str, value: str | None) -> None:
    """Refuses a local path (an absolute or relative path, `~`, more than one `/`, or anything that exists here) that
    is not the folder of a saved model (with its config.json); a Hub id (`org/name`) is left to the Hub."""
    if value is None:
        return
    text = str(value)
    path = Path(text).expanduser()
    looks_local = text.startswith(("/", "./", "../", "~")) or text in (".", "..") or text.count("/") > 1
    if not (looks_local or path.exists()):
        return
    if not path.is_dir():
        what = "is a file, not a model folder" if path.exists() else "is not an existing folder"
        raise TrainingConfigError(
            f"--{name} {text!r} {what}; give the folder of a saved model or a Hub id such as 'roberta-large' or "
            "'org/name'."
        )
    if not (path / "config.json").is_file():
        raise TrainingConfigError(
            f"--{name} {text!r} has no config.json: it is not the folder of a saved model (one written by "
            "save_pretrained); give such a folder or a Hub id."
        )


def check_synthetic_dataset(value: str | None, option: str = "synthetic_dataset") -> None:
    """Refuses a synthetic dataset that is neither an existing local folder nor a Hub id (`org/name`)."""
    if value is None:
        return
    text = str(value)
    local = Path(text).expanduser()
    # `runs/erc-synth` has the shape of a Hub id, but where `runs` is a folder here it names a local folder.
    looks_local = text.startswith(("/", "./", "../", "~")) or text.count("/") != 1 or local.parent.is_dir()
    if looks_local and not local.is_dir():
        raise TrainingConfigError(
            f"{option} {text!r} is not an existing folder (and not a Hub id of the form org/name); give the folder "
            "written by `erc-synth build --output-dir`, or the Hub repository it was pushed to."
        )


@dataclass
class ModelArguments:
    """Which classifier, on which backbone, with which input limits."""

    architecture: str = field(
        default="context",
        metadata={"help": "Classifier from the registry in trainers/models: context, compm, emoone or todkat."},
    )
    model_name_or_path: str = field(
        default="roberta-large",
        metadata={"help": "Backbone encoder (any AutoModel checkpoint: a Hub id or a local folder)."},
    )
    memory_model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "compm: frozen encoder of the speaker memory; defaults to model_name_or_path."},
    )
    max_length: int = field(
        default=512,
        metadata={
            "range": "[8, 1048576]",
            "help": "Tokens of context plus target utterance; the context is truncated from the left.",
        },
    )
    max_context_turns: int | None = field(
        default=None,
        metadata={
            "range": "[0, 100000]",
            "help": "Keep at most this many preceding turns as context (None: all of them).",
        },
    )
    target_position: Literal["last", "first"] = field(
        default="last",
        metadata={
            "help": "Where the target utterance goes in the (context, target) pair: 'last' (after the context) or "
            "'first'. Either way only the context is truncated; the target is kept whole."
        },
    )
    pooling: Literal["first", "mean", "target_mean"] = field(
        default="target_mean",
        metadata={
            "help": "The utterance representation the head reads: 'target_mean' (default: mean over the target "
            "utterance's tokens, each of which has attended to the context), 'first' (the first token, <s>/[CLS], "
            "as the papers do) or 'mean' (mean over every token)."
        },
    )
    memory_max_length: int = field(
        default=128,
        metadata={
            "range": "[8, 1048576]",
            "help": "compm: tokens of each earlier utterance of the speaker in the memory.",
        },
    )
    memory_max_turns: int | None = field(
        default=None,
        metadata={
            "range": "[0, 100000]",
            "help": "compm: keep the speaker's most recent earlier utterances only (None: all of them).",
        },
    )
    gru_layers: int = field(
        default=2, metadata={"range": "[1, 64]", "help": "compm: layers of the GRU that tracks the speaker memory."}
    )
    gru_dropout: float = field(
        default=0.3, metadata={"range": "[0, 1)", "help": "compm: dropout between the GRU layers."}
    )
    classifier_dropout: float = field(
        default=0.1, metadata={"range": "[0, 1)", "help": "Dropout before the classification layer."}
    )
    grayscale: Literal["teacher", "teacher_post"] = field(
        default="teacher",
        metadata={
            "help": "emoone: soft labels from the teacher's distribution ('teacher'), or the same with the gold "
            "label lifted to at least 0.5 ('teacher_post')."
        },
    )
    onehot_weight: float = field(
        default=1.0, metadata={"range": "[0, 1000]", "help": "emoone: weight of the one-hot cross-entropy."}
    )
    grayscale_weight: float = field(
        default=1.0, metadata={"range": "[0, 1000]", "help": "emoone: weight of the grayscale-label loss."}
    )
    teacher_num_train_epochs: float | None = field(
        default=None,
        metadata={
            "range": "(0, 100000]",
            "help": "emoone: epochs of the teacher (None: the stage's num_train_epochs).",
        },
    )
    topic_size: int = field(
        default=64, metadata={"range": "[1, 65536]", "help": "todkat: dimension of the latent topic of the VAE layer."}
    )
    topic_loss_weight: float = field(
        default=0.1,
        metadata={
            "range": "[0, 1000]",
            "help": "todkat: weight of the topic layer's reconstruction + KL loss beside the cross-entropy.",
        },
    )
    knowledge_model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "todkat: COMET-style seq2seq knowledge generator (Hub id or folder; `erc-synth knowledge "
            "make-standin --output-dir FOLDER` writes an offline stand-in)."
        },
    )
    knowledge_relations: list[str] = field(
        default_factory=lambda: ["xIntent", "xReact", "oReact"],
        metadata={"help": "todkat: ATOMIC relations generated for each utterance."},
    )
    knowledge_candidates: int = field(
        default=3, metadata={"range": "[1, 1000]", "help": "todkat: beams generated per utterance and relation."}
    )
    knowledge_top_k: int = field(
        default=3,
        metadata={"range": "[1, 1000]", "help": "todkat: knowledge sentences kept per utterance (closest to it)."},
    )
    knowledge_max_new_tokens: int = field(
        default=16, metadata={"range": "[1, 4096]", "help": "todkat: tokens per generated tail."}
    )
    knowledge_max_length: int = field(
        default=32, metadata={"range": "[1, 65536]", "help": "todkat: tokens of each knowledge sentence."}
    )
    knowledge_selector: str = field(
        default="sentence-transformers/all-MiniLM-L6-v2",
        metadata={"help": "todkat: sentence-embedding model that ranks the knowledge against the utterance."},
    )
    knowledge_cache_dir: str | None = field(
        default=None,
        metadata={"help": "todkat: folder of the knowledge cache (None: ~/.cache/erc-synth/knowledge)."},
    )
    fusion_heads: int = field(
        default=4, metadata={"range": "[1, 1024]", "help": "todkat: attention heads of the fusion transformer."}
    )
    use_lora: bool = field(
        default=False, metadata={"help": "Train LoRA adapters (peft) on the encoder instead of all its weights."}
    )
    lora_r: int = field(default=16, metadata={"range": "[1, 65536]", "help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"range": "[1, 65536]", "help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=0.05, metadata={"range": "[0, 1)", "help": "LoRA dropout."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={"help": "Module names that get adapters (None: peft's default for the backbone type)."},
    )

    def __post_init__(self) -> None:
        for name in ("model_name_or_path", "memory_model_name_or_path", "knowledge_model_name_or_path"):
            _check_local_model(name, getattr(self, name))
        if self.max_length < 8:
            raise TrainingConfigError(f"max_length must be at least 8 tokens, but got max_length={self.max_length}.")
        for name in ("max_context_turns", "memory_max_turns"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise TrainingConfigError(f"{name} must be None or >= 0, but got {name}={value}.")
        if self.target_position not in ("last", "first"):
            raise TrainingConfigError(
                f"target_position must be 'last' or 'first', but got target_position={self.target_position!r}."
            )
        if self.pooling not in POOLINGS:
            raise TrainingConfigError(f"pooling must be one of {list(POOLINGS)}, but got pooling={self.pooling!r}.")
        if self.grayscale not in ("teacher", "teacher_post"):
            raise TrainingConfigError(
                f"grayscale must be 'teacher' or 'teacher_post', but got grayscale={self.grayscale!r}."
            )


@dataclass
class DataArguments:
    """Where the real benchmark and the synthetic dataset are, and which splits each stage uses."""

    benchmark: str = field(
        default="meld", metadata={"help": "Benchmark name (meld, emorynlp, iemocap) or a custom benchmark YAML."}
    )
    data_dir: str | None = field(
        default=None, metadata={"help": "Folder with the real benchmark's files (e.g. ../shared/data/meld)."}
    )
    data_format: str = field(
        default="auto", metadata={"help": "Format of the real benchmark's files (see erc_synth_datasets.loaders)."}
    )
    synthetic_dataset: str | None = field(
        default=None,
        metadata={"help": "Synthetic dataset: a Hub repository id or a local folder readable by load_dataset."},
    )
    synthetic_revision: str | None = field(
        default=None, metadata={"help": "Revision (branch, tag or commit) of the synthetic dataset on the Hub."}
    )
    pretrain_config: str | None = field(
        default=None,
        metadata={
            "help": "Synthetic config for stage 1 (e.g. meld_balanced, or a derived one: meld_natural_teacher, "
            "meld_natural_clean); None skips stage 1 (the Org variant)."
        },
    )
    joint_config: str | None = field(
        default=None,
        metadata={
            "help": "The joint protocol: this synthetic config's train split is trained together with the real one "
            "in a single stage (instead of stage 1 then stage 2); its rows' loss is weighted by synthetic_weight."
        },
    )
    synthetic_weight: float = field(
        default=1.0,
        metadata={
            "range": "(0, 1000]",
            "help": "Joint protocol: the loss weight of every synthetic row (real rows: 1).",
        },
    )
    soft_targets: bool = field(
        default=True,
        metadata={
            "help": "Train on a derived config's label probabilities (cross-entropy against the teacher's or the "
            "vote shares' distribution); false: on its hard labels."
        },
    )
    test_configs: list[str] = field(
        default_factory=list,
        metadata={"help": "Synthetic configs whose test splits are evaluated too (the real test split always is)."},
    )
    max_train_dialogues: int | None = field(
        default=None,
        metadata={
            "range": "[1, 1000000000]",
            "help": "Use only the first N dialogues of each train split (smoke runs). Test splits are never cut.",
        },
    )
    max_eval_dialogues: int | None = field(
        default=None,
        metadata={
            "range": "[1, 1000000000]",
            "help": "Use only the first N dialogues of each validation split. Test splits are never cut.",
        },
    )
    max_eval_utterances: int | None = field(
        default=None,
        metadata={
            "range": "[1, 1000000000]",
            "help": "Smoke runs only: score each test split on its first N utterances (whole dialogues in order, "
            "the last one cut short) instead of all of them; results.json and the tables record the cut and a "
            "warning is printed. None (default): every utterance of every test split.",
        },
    )

    def __post_init__(self) -> None:
        self.test_configs = list(self.test_configs or [])
        if self.pretrain_config is not None and self.joint_config is not None:
            raise TrainingConfigError(
                f"pretrain_config={self.pretrain_config!r} and joint_config={self.joint_config!r} are two protocols; "
                "set one of them (sequential: pretrain_config; joint: joint_config)."
            )
        if self.joint_config is not None and self.synthetic_dataset is None:
            raise TrainingConfigError(f"joint_config={self.joint_config!r} needs synthetic_dataset.")
        if not (0.0 < self.synthetic_weight < float("inf")):
            raise TrainingConfigError(f"synthetic_weight must be a positive number, but got {self.synthetic_weight}.")
        if self.pretrain_config is not None and self.synthetic_dataset is None:
            raise TrainingConfigError(
                f"pretrain_config={self.pretrain_config!r} needs synthetic_dataset (a Hub id or a local folder); "
                "set synthetic_dataset, or remove pretrain_config to train on the real data only."
            )
        if self.test_configs and self.synthetic_dataset is None:
            raise TrainingConfigError(
                f"test_configs={self.test_configs} needs synthetic_dataset (a Hub id or a local folder)."
            )
        for name in ("max_train_dialogues", "max_eval_dialogues", "max_eval_utterances"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise TrainingConfigError(f"{name} must be None or >= 1, but got {name}={value}.")


@dataclass
class ErcTrainingFields:
    """What `ErcTrainingArguments` adds to `TrainingArguments`: the defaults of ERC fine-tuning and the settings of
    the pretraining stage (a plain dataclass, so that `--help` lists them without importing transformers).

    `field_ranges` gives the interval of every number option that `TrainingArguments` itself declares (read with
    `erc_synth_datasets.configuration.field_range`, checked before the arguments are built, shown in `--help`).
    """

    field_ranges: ClassVar[dict[str, str]] = {
        "max_steps": "[-1, 1000000000000]",  # -1: train num_train_epochs
        "weight_decay": "[0, 10]",
        "adam_beta1": "[0, 1)",
        "adam_beta2": "[0, 1)",
        "adam_epsilon": "(0, 1]",
        "gradient_accumulation_steps": "[1, 1000000]",
        "max_grad_norm": "[0, 1000000]",  # 0: no clipping
        "label_smoothing_factor": "[0, 1)",
        "neftune_noise_alpha": "(0, 1000000]",
        "torch_empty_cache_steps": "[1, 1000000000]",
        "eval_steps": "(0, 1000000000]",  # below 1: a fraction of the training steps
        "eval_delay": "[0, 1000000000]",
        "eval_accumulation_steps": "[1, 1000000000]",
        "save_steps": "(0, 1000000000]",
        "seed": f"[0, {SEED_MAX}]",
        "data_seed": f"[0, {SEED_MAX}]",
        "dataloader_num_workers": "[0, 1024]",
        "dataloader_prefetch_factor": "[1, 1024]",
        "ddp_bucket_cap_mb": "[1, 1000000]",
        "ddp_timeout": "[1, 1000000000]",
        "local_rank": "[-1, 1000000]",
    }

    output_dir: str | None = field(
        default="runs/train", metadata={"help": "Where checkpoints, the final model and results.json are written."}
    )
    learning_rate: float = field(default=1e-5, metadata={"range": "(0, 10]", "help": "Peak learning rate of AdamW."})
    num_train_epochs: float = field(
        default=10.0, metadata={"range": "(0, 100000]", "help": "Epochs of stage 2 (the real train split)."}
    )
    per_device_train_batch_size: int = field(
        default=8, metadata={"range": "[1, 1048576]", "help": "Utterances per device and step."}
    )
    per_device_eval_batch_size: int = field(
        default=32, metadata={"range": "[1, 1048576]", "help": "Utterances per device in evaluation."}
    )
    warmup_steps: float = field(
        default=0.06, metadata={"range": "[0, 1000000000]", "help": "Warm-up steps (a float below 1: a fraction)."}
    )
    eval_strategy: str = field(default="epoch", metadata={"help": "When to evaluate on the validation split."})
    save_strategy: str = field(default="epoch", metadata={"help": "When to save a checkpoint (as eval_strategy)."})
    save_total_limit: int | None = field(
        default=1, metadata={"range": "[0, 1000000]", "help": "Checkpoints kept (the best is always kept)."}
    )
    load_best_model_at_end: bool = field(
        default=True, metadata={"help": "Model selection: keep the checkpoint with the best validation score."}
    )
    metric_for_best_model: str | None = field(
        default="weighted_f1", metadata={"help": "Validation metric of model selection."}
    )
    greater_is_better: bool | None = field(default=True, metadata={"help": "Whether a larger metric is better."})
    train_sampling_strategy: str = field(
        default="group_by_length",
        metadata={"help": "Batches of similar length waste less padding: 'group_by_length' (default) or 'random'."},
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Kept False: the classifiers take extra inputs (speaker memory)."}
    )
    label_names: list[str] | None = field(
        default_factory=lambda: ["labels"], metadata={"help": "Input names holding the gold labels."}
    )
    logging_steps: float = field(
        default=50, metadata={"range": "(0, 1000000000]", "help": "Log the training loss every N steps."}
    )
    bf16: bool | None = field(
        default=None, metadata={"help": "bf16 mixed precision; None turns it on where the GPU supports it."}
    )
    pretrain_num_train_epochs: float | None = field(
        default=None,
        metadata={
            "range": "(0, 100000]",
            "help": "Epochs of stage 1 (synthetic train split); None: num_train_epochs.",
        },
    )
    pretrain_learning_rate: float | None = field(
        default=None, metadata={"range": "(0, 10]", "help": "Learning rate of stage 1; None: learning_rate."}
    )
    early_stopping_patience: int | None = field(
        default=None,
        metadata={
            "range": "[1, 1000]",
            "help": "Stop a stage when the validation metric has not improved for this many evaluations (the best "
            "checkpoint is then selected); None: train every epoch. With a patience, num_train_epochs is the "
            "maximum: a stage trains to convergence on its validation split.",
        },
    )
    match_steps_of: list[str] = field(
        default_factory=list,
        metadata={
            "help": "The steps-matched Org: finished run folders (with results.json) whose optimiser steps, all "
            "stages together, this real-data-only run takes as its max_steps (the largest of them)."
        },
    )
    max_train_seconds: float | None = field(
        default=None,
        metadata={
            "range": "(0, 1000000000]",
            "help": "Stop each stage's training after this many seconds (then select and evaluate as usual); "
            "results.json records the steps done. None: no limit.",
        },
    )
    num_threads: int | None = num_threads_field("training and evaluation on the CPU")
    keep_checkpoints: bool = field(
        default=False, metadata={"help": "Keep each stage's checkpoint folders (deleted once the stage is done)."}
    )
    save_final_model: bool = field(
        default=True, metadata={"help": "Save the selected model of the last stage to <output_dir>/model."}
    )


def variant_of(data_args: DataArguments, match_steps: bool = False) -> str:
    """The protocol variant of a run: `org` (or `org-steps`) without synthetic data, else the variant its synthetic
    config and protocol name (`natural`, `natural-teacher`, `joint-balanced-clean`, ...).

    Raises:
        TrainingConfigError: the synthetic config is not named `<benchmark>_<mode>[_<labels>][_<curation>]`, or a
            steps-matched run trains on synthetic data.
    """
    config = data_args.pretrain_config or data_args.joint_config
    if config is None:
        return str(Variant.ORG_STEPS if match_steps else Variant.ORG)
    if match_steps:
        raise TrainingConfigError("match_steps_of is for the real-data-only (Org) run; remove the synthetic config.")
    try:
        name = ConfigName.parse(config)
        return str(Variant(name.mode, name.labels, name.curation, joint=data_args.joint_config is not None))
    except VocabularyError as err:
        raise TrainingConfigError(f"{'pretrain' if data_args.pretrain_config else 'joint'}_config: {err}") from None
