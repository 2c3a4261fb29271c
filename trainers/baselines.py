"""The floor of every results table: a majority-class and a TF-IDF + logistic-regression classifier (scikit-learn),
trained on the same train split as the neural classifiers and scored by the same metric code on the same test sets.

- `majority`: always the most frequent label of the train split.
- `tfidf_lr`: TF-IDF of word 1- and 2-grams of the target utterance alone (no context, no speaker), then a
  multinomial logistic regression (C=10).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from datasets import Dataset

__all__ = ["BASELINES", "fit_baselines", "score_baselines"]

BASELINES = ("majority", "tfidf_lr")


def _utterances(dialogues: Dataset) -> tuple[list[str], np.ndarray]:
    # numpy, and the schema's Features (datasets): loaded only when baselines are fitted, not by `--help`.
    import numpy as np

    # heavy: the schema's Features import datasets
    from erc_synth_datasets.schema import flatten_dialogues

    rows = flatten_dialogues(dialogues, max_context=0)
    return list(rows["utterance"]), np.asarray(rows["emotion"], dtype=np.int64)


def fit_baselines(train: Dataset, *, seed: int = 0) -> dict[str, Any]:
    """Fits every baseline on a train split in the dialogue schema.

    Returns:
        Baseline name -> a fitted object with `predict(list of utterances) -> label ids`.
    """
    from sklearn.dummy import DummyClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts, labels = _utterances(train)
    majority = DummyClassifier(strategy="constant", constant=Counter(labels.tolist()).most_common(1)[0][0])
    tfidf_lr = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(C=10.0, max_iter=2000, random_state=seed),
    )
    return {"majority": majority.fit(texts, labels), "tfidf_lr": tfidf_lr.fit(texts, labels)}


def score_baselines(fitted: dict[str, Any], test: Dataset, labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Scores of every fitted baseline on a test split (dialogue schema), from `trainers.metrics.compute_scores`."""
    from .metrics import compute_scores  # numpy: loaded only when baselines are scored, not by `--help`

    texts, references = _utterances(test)
    return {name: compute_scores(model.predict(texts), references, list(labels)) for name, model in fitted.items()}
