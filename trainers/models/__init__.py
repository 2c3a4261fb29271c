"""The classifier registry: architecture name -> `module:Class`, imported only when chosen.

Every classifier is an `ErcClassifier` (`trainers/models/base.py`), a transformers `PreTrainedModel` with an
`ErcConfig`: any `AutoModel` encoder, a head over the benchmark's labels in canonical order,
`forward(..., labels=None) -> SequenceClassifierOutput`. Importing `trainers.models.base` registers the model type with
`AutoConfig`, `AutoModel` and `AutoModelForSequenceClassification` (model type `erc-synth`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.files import read_json_file
from erc_synth_datasets.registry import Registry

from ..errors import TrainingConfigError, UnknownModelError

if TYPE_CHECKING:
    from ..config import ModelArguments
    from .base import ErcClassifier, ErcConfig

__all__ = ["MODELS", "build_model", "get_model_class", "list_models", "load_classifier", "load_classifier_config"]

# A lazy registry, as in lm-evaluation-harness: nothing heavy is imported until a model is chosen.
MODELS: Registry[type[ErcClassifier]] = Registry(
    "architecture",
    {
        "context": "trainers.models.context:ContextClassifier",
        "compm": "trainers.models.compm:CoMPMClassifier",
        "emoone": "trainers.models.emoone:EmoOneClassifier",
        "todkat": "trainers.models.todkat:TodKatClassifier",
    },
    error=UnknownModelError,
    hint="Set `architecture` in the training config to one of them.",
)


def list_models() -> list[str]:
    """Names of the registered classifiers."""
    return MODELS.names()


def get_model_class(name: str) -> type[ErcClassifier]:
    """The classifier class registered under `name`.

    Raises:
        UnknownModelError: `name` is not registered (the message suggests close names and lists the available ones).
    """
    return MODELS.get(name)


def build_model(
    args: ModelArguments, num_labels: int, *, labels: list[str] | None = None, benchmark: str | None = None
) -> ErcClassifier:
    """Builds the classifier `args.architecture` with `num_labels` outputs on the pretrained `args.model_name_or_path`.

    Args:
        args: The model settings.
        num_labels: Size of the head.
        labels: The label names in the head's order (stored as `id2label`); None: `LABEL_0`, `LABEL_1`, ...
        benchmark: The benchmark the labels come from, for the record.
    """
    # torch and transformers: loaded only when a model is built or loaded.
    from .base import load_encoder, make_config

    model_class = get_model_class(args.architecture)
    config = make_config(args, num_labels, labels=labels, benchmark=benchmark)
    encoders = {"encoder": load_encoder(args.model_name_or_path)}
    if model_class.needs_memory:
        encoders["memory_encoder"] = load_encoder(args.memory_model_name_or_path or args.model_name_or_path)
    return model_class(config, **encoders)


def load_classifier_config(path: str | Path) -> ErcConfig:
    """The `ErcConfig` of a classifier folder written by `save_pretrained`, without loading its weights.

    Raises:
        TrainingConfigError: `path` has no config.json, or not one of an erc-synth classifier.
    """
    # torch and transformers: loaded only when a model is built or loaded.
    from .base import ErcConfig

    path = Path(path)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise TrainingConfigError(
            f"{str(path)!r} is not a saved erc-synth classifier: it has no config.json (a classifier folder is "
            "written by save_pretrained, as `erc-synth train` does into <output_dir>/model)."
        )
    model_type = read_json_file(config_file, what="Classifier config", error=TrainingConfigError).get("model_type")
    if model_type != ErcConfig.model_type:
        raise TrainingConfigError(
            f"{config_file} is not the config of an erc-synth classifier: its model_type is {model_type!r}, not "
            f"{ErcConfig.model_type!r}."
        )
    return ErcConfig.from_pretrained(str(path))


def load_classifier(path: str | Path, *, benchmark: str | None = None) -> tuple[ErcClassifier, list[str]]:
    """Loads a classifier saved with `save_pretrained`; returns it with its label names (the head's order).

    Args:
        path: The saved folder.
        benchmark: When given, the classifier must predict this benchmark's labels in its canonical order.

    Raises:
        TrainingConfigError: `path` is not a saved classifier, or its labels are not the benchmark's.
    """

    # torch and transformers: loaded only when a model is built or loaded.
    from .base import ErcClassifier, check_label_order

    config = load_classifier_config(path)
    if benchmark is not None:
        check_label_order(config, list(get_benchmark(benchmark).labels), f"benchmark {benchmark!r}")
    try:
        model = ErcClassifier.from_pretrained(str(path), config=config)
    except OSError as err:
        raise TrainingConfigError(f"The classifier in {str(path)!r} could not be loaded: {err}") from err
    return model, config.labels
