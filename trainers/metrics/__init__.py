"""Scores of a classifier on a split: weighted F1 (through the `erc_f1` metric module), macro F1, accuracy,
per-label F1 and the confusion matrix, with the label ids of the benchmark's canonical order."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ERC_F1_PATH", "compute_scores", "load_erc_f1", "make_compute_metrics"]

ERC_F1_PATH = Path(__file__).resolve().parent / "erc_f1"


@lru_cache(maxsize=1)
def load_erc_f1() -> Any:
    """The project's `erc_f1` evaluate module, loaded by path (works offline)."""
    import evaluate

    return evaluate.load(str(ERC_F1_PATH), keep_in_memory=True)


def compute_scores(predictions: Any, references: Any, labels: list[str]) -> dict[str, Any]:
    """Every score of one split.

    Args:
        predictions: Predicted label ids, one per utterance.
        references: Gold label ids, one per utterance.
        labels: Label names in canonical order (id `i` is `labels[i]`).

    Returns:
        `weighted_f1`, `macro_f1`, `accuracy`, `per_class_f1` (label name -> F1), `confusion_matrix` (rows: gold,
        columns: predicted, in label order), `labels` and `num_utterances`.
    """
    from sklearn.metrics import confusion_matrix

    predictions = np.asarray(predictions, dtype=np.int64).reshape(-1)
    references = np.asarray(references, dtype=np.int64).reshape(-1)
    if predictions.shape != references.shape:
        raise ValueError(f"Got {len(predictions)} predictions for {len(references)} references.")
    ids = list(range(len(labels)))
    metric = load_erc_f1()
    kwargs = {"predictions": predictions.tolist(), "references": references.tolist(), "labels": ids}
    per_class = metric.compute(average=None, **kwargs)["f1"]
    return {
        "weighted_f1": metric.compute(average="weighted", **kwargs)["f1"],
        "macro_f1": metric.compute(average="macro", **kwargs)["f1"],
        "accuracy": float((predictions == references).mean()) if len(references) else 0.0,
        "per_class_f1": dict(zip(labels, per_class, strict=True)),
        "confusion_matrix": confusion_matrix(references, predictions, labels=ids).tolist(),
        "labels": list(labels),
        "num_utterances": int(len(references)),
    }


def make_compute_metrics(labels: list[str]):
    """A `Trainer` `compute_metrics` reporting weighted F1 (model selection), macro F1 and accuracy."""

    def compute_metrics(eval_prediction: Any) -> dict[str, float]:
        logits = eval_prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        scores = compute_scores(np.argmax(logits, axis=-1), eval_prediction.label_ids, labels)
        return {key: scores[key] for key in ("weighted_f1", "macro_f1", "accuracy")}

    return compute_metrics
