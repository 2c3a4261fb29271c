"""The erc_f1 evaluate module (loaded by path, offline) and the scores written to results.json."""

from __future__ import annotations

import evaluate
import pytest
from sklearn.metrics import f1_score

from trainers.metrics import ERC_F1_PATH, compute_scores, load_erc_f1, make_compute_metrics

PREDICTIONS = [0, 1, 1, 2, 2, 0, 1, 2]
REFERENCES = [0, 1, 2, 2, 2, 1, 1, 0]


def test_erc_f1_loads_by_path_and_matches_sklearn_weighted():
    metric = evaluate.load(str(ERC_F1_PATH))
    result = metric.compute(predictions=PREDICTIONS, references=REFERENCES, average="weighted")
    assert result["f1"] == pytest.approx(f1_score(REFERENCES, PREDICTIONS, average="weighted"))
    # By hand: per-label F1 0.5, 0.6667, 0.6667 with supports 2, 3, 3.
    assert result["f1"] == pytest.approx((2 * 0.5 + 3 * 2 / 3 + 3 * 2 / 3) / 8)


def test_erc_f1_requires_an_explicit_average():
    with pytest.raises(ValueError, match="explicit averaging"):
        load_erc_f1().compute(predictions=PREDICTIONS, references=REFERENCES)
    with pytest.raises(ValueError, match="average must be one of"):
        load_erc_f1().compute(predictions=PREDICTIONS, references=REFERENCES, average="binary")


def test_compute_scores_every_field():
    labels = ["neutral", "joy", "anger", "fear"]
    scores = compute_scores(PREDICTIONS, REFERENCES, labels)
    assert scores["num_utterances"] == 8
    assert scores["accuracy"] == pytest.approx(5 / 8)
    assert scores["labels"] == labels
    assert scores["per_class_f1"] == pytest.approx({"neutral": 0.5, "joy": 2 / 3, "anger": 2 / 3, "fear": 0.0})
    # A label absent from both lists counts as 0 in the macro average over the benchmark's labels.
    assert scores["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 2 / 3 + 0.0) / 4)
    assert scores["weighted_f1"] == pytest.approx(f1_score(REFERENCES, PREDICTIONS, average="weighted"))
    # Rows are gold labels, columns predictions.
    assert scores["confusion_matrix"] == [[1, 0, 1, 0], [1, 2, 0, 0], [0, 1, 2, 0], [0, 0, 0, 0]]
    assert sum(map(sum, scores["confusion_matrix"])) == 8


def test_compute_scores_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="3 predictions for 2 references"):
        compute_scores([0, 1, 2], [0, 1], ["a", "b", "c"])


def test_trainer_compute_metrics_uses_argmax_of_logits():
    import numpy as np
    from transformers import EvalPrediction

    logits = np.eye(3)[PREDICTIONS]
    metrics = make_compute_metrics(["a", "b", "c"])(EvalPrediction(predictions=logits, label_ids=np.array(REFERENCES)))
    assert set(metrics) == {"weighted_f1", "macro_f1", "accuracy"}
    assert metrics["accuracy"] == pytest.approx(5 / 8)
