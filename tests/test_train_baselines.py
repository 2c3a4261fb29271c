"""The majority and TF-IDF + logistic-regression baselines, fitted and scored like the neural classifiers."""

from __future__ import annotations

from collections import Counter

import pytest
from sklearn.metrics import f1_score

from erc_synth_datasets import load_benchmark
from erc_synth_datasets.schema import flatten_dialogues
from trainers.baselines import BASELINES, fit_baselines, score_baselines


@pytest.fixture(scope="module")
def meld(shared_data):
    return load_benchmark("meld", shared_data / "meld")


def test_baselines_on_real_meld(meld):
    labels = list(meld["train"].features["emotions"].feature.names)
    fitted = fit_baselines(meld["train"])
    scores = score_baselines(fitted, meld["test"], labels)
    assert set(scores) == set(BASELINES)
    gold = flatten_dialogues(meld["test"], max_context=0)["emotion"]
    assert scores["majority"]["num_utterances"] == len(gold) == 2610
    # The majority row is the constant prediction of the train split's most frequent label, scored by scikit-learn.
    train_gold = flatten_dialogues(meld["train"], max_context=0)["emotion"]
    constant = Counter(train_gold).most_common(1)[0][0]
    assert labels[constant] == "neutral"
    expected = f1_score(gold, [constant] * len(gold), average="weighted", labels=list(range(len(labels))))
    assert scores["majority"]["weighted_f1"] == pytest.approx(expected)
    # Word n-grams learn something: well above the majority floor.
    assert scores["tfidf_lr"]["weighted_f1"] > scores["majority"]["weighted_f1"] + 0.05
    assert sum(map(sum, scores["tfidf_lr"]["confusion_matrix"])) == 2610
