"""The classifier registry: architecture name -> `module:Class`, imported only when chosen.

Every classifier is an `ErcClassifier` (`trainers/models/base.py`): any `AutoModel` encoder, a head over the
benchmark's labels in canonical order, `forward(..., labels=None) -> SequenceClassifierOutput`.
"""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING

from ..errors import UnknownModelError

if TYPE_CHECKING:
    from ..config import ModelArguments
    from .base import ErcClassifier

__all__ = ["MODELS", "build_model", "get_model_class", "list_models"]

# A lazy registry, as in lm-evaluation-harness: nothing heavy is imported until a model is chosen.
MODELS: dict[str, str] = {
    "context": "trainers.models.context:ContextClassifier",
    "compm": "trainers.models.compm:CoMPMClassifier",
    "emoone": "trainers.models.emoone:EmoOneClassifier",
}


def list_models() -> list[str]:
    """Names of the registered classifiers."""
    return list(MODELS)


def get_model_class(name: str) -> type[ErcClassifier]:
    """The classifier class registered under `name`.

    Raises:
        UnknownModelError: `name` is not registered (the message suggests close names and lists the available ones).
    """
    if name not in MODELS:
        close = difflib.get_close_matches(name, list(MODELS), n=2, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownModelError(
            f"Unknown architecture {name!r}.{hint} Available: {', '.join(MODELS)}. "
            "Set `architecture` in the training config to one of them."
        )
    module_name, class_name = MODELS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_model(args: ModelArguments, num_labels: int) -> ErcClassifier:
    """Builds the classifier `args.architecture` with `num_labels` outputs on `args.model_name_or_path`."""
    return get_model_class(args.architecture)(args, num_labels)
