"""Each quality metric on small hand-made dialogues whose values are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.quality.metrics import (
    Dialogue,
    ShingleIndex,
    distinct_n,
    follows_legend_order,
    is_repetitive,
    jaccard,
    label_entropy,
    near_duplicate_share,
    normalize_utterance,
    repeated_utterance_flags,
    sample_by_tokens,
    self_overlap,
    shingles,
    word_tokens,
)
from erc_synth_datasets.quality.models import discriminator_auc, embedding_diversity, label_agreement
from erc_synth_datasets.quality.report import QualitySettings, grid_point, label_distribution, shape_figures


def test_words_and_normal_form():
    assert word_tokens("Oh, my GOD! I can't.") == ["oh", "my", "god", "i", "can't"]
    assert normalize_utterance("Oh my God!") == normalize_utterance("oh, my   god")
    assert normalize_utterance("?!") == ""


def test_repetitive_utterance_by_distinct_trigrams():
    # 7 words -> 5 trigrams, 2 distinct ("i know i", "know i know"): 0.4 < 0.7.
    assert is_repetitive("I know I know I know I")
    # all 4 trigrams distinct.
    assert not is_repetitive("we should get some coffee later")
    # 3 words -> a single trigram: never repetitive.
    assert not is_repetitive("no no no")
    # "a b c a b c": trigrams abc, bca, cab, abc -> 3/4 = 0.75: repetitive only above that threshold.
    assert not is_repetitive("a b c a b c", threshold=0.75)
    assert is_repetitive("a b c a b c", threshold=0.76)


def test_repeated_utterances_within_a_dialogue():
    assert repeated_utterance_flags(["Hi!", "Hello.", "hi", "HI!!", "?", "?"]) == [
        False,
        False,
        True,
        True,
        False,
        False,
    ]


def test_legend_order():
    assert follows_legend_order([0, 1, 2, 3])
    assert follows_legend_order([0, 1, 2, 3, 4, 5, 6, 0])
    assert follows_legend_order([1, 2, 3, 4, 1])  # from a later legend entry
    assert not follows_legend_order([3, 2, 1, 0])
    assert not follows_legend_order([0, 1, 2, 0, 0])
    assert follows_legend_order([0, 1, 2], min_run=3)


def test_label_entropy():
    assert label_entropy([2, 2, 2]) == 0.0
    assert label_entropy([0, 1]) == pytest.approx(1.0)
    assert label_entropy([0, 1, 2, 3]) == pytest.approx(2.0)
    assert label_entropy([0, 0, 0, 1]) == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))


def test_distinct_n_never_crosses_utterances():
    tokens = [["a", "b", "a", "b"], ["a", "b"]]
    assert distinct_n(tokens, 1) == pytest.approx(2 / 6)
    # bigrams: ab, ba, ab | ab -> 2 distinct of 4 (no "b a" across the boundary).
    assert distinct_n(tokens, 2) == pytest.approx(2 / 4)
    assert distinct_n([["a"]], 2) is None


def test_sample_by_tokens_is_seeded_and_reaches_the_budget():
    utterances = [f"word{i} other{i} third{i}" for i in range(100)]
    first = sample_by_tokens(utterances, 30, seed=1)
    assert first == sample_by_tokens(utterances, 30, seed=1)
    assert first != sample_by_tokens(utterances, 30, seed=2)
    assert sum(len(t) for t in first) == 30


def test_self_overlap():
    assert self_overlap([["a", "b", "c"], ["d", "e", "f"]]) == 0.0
    assert self_overlap([["a", "b", "c"], ["a", "b", "c"]]) == 1.0
    # trigrams abc, bcd and abc, bcx: each document shares one of its two.
    assert self_overlap([["a", "b", "c", "d"], ["a", "b", "c", "x"]]) == pytest.approx(0.5)


def test_shingles_jaccard_and_index():
    first = ["We should go to the beach.", "Sure, let's go tomorrow."]
    same_words = ["we should go to the beach", "sure let's go tomorrow"]
    other = ["My laptop broke again.", "Did you back it up?"]
    assert jaccard(shingles(first), shingles(same_words)) == 1.0
    assert jaccard(shingles(first), shingles(other)) == 0.0
    assert jaccard(frozenset(), frozenset()) == 0.0
    index = ShingleIndex(0.4)
    assert index.best_match(first) is None
    index.add(other)
    index.add(first)
    assert index.best_match(same_words) == (1, 1.0)
    # one word of 10 changed: 8 trigrams each, 3 of them differ -> 5 shared of a union of 11.
    changed = ["We should go to the park.", "Sure, let's go tomorrow."]
    assert index.best_match(changed) == (1, pytest.approx(5 / 11))
    assert ShingleIndex(0.5).best_match(changed) is None
    assert near_duplicate_share([first, other, same_words, changed], 0.4) == pytest.approx(2 / 4)
    assert near_duplicate_share([first, other, same_words, changed], 0.5) == pytest.approx(1 / 4)


def test_shape_figures_on_hand_made_dialogues():
    meld = get_benchmark("meld")
    dialogues = [
        Dialogue(["Ross", "Rachel", "Ross", "Rachel"], ["Hi.", "Hi.", "How are you?", "Fine."], [0, 1, 2, 3]),
        Dialogue(["Joey", "Joey"], ["I know I know I know I", "Pizza?"], [4, 4]),
    ]
    figures = shape_figures(dialogues, meld, QualitySettings())
    assert figures["repeated_utterances"] == pytest.approx(1 / 6)
    assert figures["repetitive_utterances"] == pytest.approx(1 / 6)
    assert figures["legend_order_dialogues"] == pytest.approx(1 / 2)
    assert figures["label_entropy"] == pytest.approx((2.0 + 0.0) / 2)
    assert figures["turns_mean"] == 3.0 and figures["turns_median"] == 3.0
    assert figures["speakers_per_dialogue"] == pytest.approx(1.5)
    assert figures["words_per_utterance"] == pytest.approx((1 + 1 + 3 + 1 + 7 + 1) / 6)
    assert figures["label_distribution"] == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 6, 2 / 6, 0, 0])
    assert figures["turns_histogram"] == {"2": 1, "4": 1}
    assert label_distribution([], 3) == [0.0, 0.0, 0.0]


def test_grid_point():
    assert grid_point((10, 20, 40), 39) == 20
    assert grid_point((10, 20, 40), 40) == 40
    assert grid_point((10, 20, 40), 9) is None


def test_embedding_diversity_on_known_vectors():
    # Two identical rows and one orthogonal: similarities 1, 0, 0 -> mean distance 2/3.
    rows = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    figures = embedding_diversity(rows, cluster_distance=0.5, duplicate_similarity=0.95)
    assert figures["mean_pairwise_distance"] == pytest.approx(2 / 3)
    assert figures["clusters_per_100"] == pytest.approx(200 / 3)
    assert figures["near_duplicate_share"] == pytest.approx(2 / 3)
    assert embedding_diversity(rows[:1])["mean_pairwise_distance"] is None


def _dialogue(text: str, label: int = 0) -> Dialogue:
    return Dialogue(["A"], [text], [label])


def test_discriminator_separates_different_sources_and_not_the_same_one():
    real = [_dialogue(f"well i guess we could talk about the {w} tonight") for w in ("car", "dog", "job") * 10]
    synthetic = [_dialogue(f"emotion joy happy wonderful amazing {w}") for w in ("car", "dog", "job") * 10]
    assert discriminator_auc(real, synthetic) == 1.0
    assert discriminator_auc(real[:3], synthetic[:3]) is None


class _Constant:
    def __init__(self, predictions: list[int]) -> None:
        self.predictions = predictions

    def predict(self, texts: list[str]) -> np.ndarray:
        return np.array(self.predictions[: len(texts)])


def test_label_agreement_counts_kappa_and_f1():
    dialogues = [Dialogue(["A", "B", "A", "B"], ["a", "b", "c", "d"], [0, 0, 1, 1])]
    perfect = label_agreement(_Constant([0, 0, 1, 1]), dialogues, ["x", "y"])
    assert perfect["kappa"] == pytest.approx(1.0) and perfect["weighted_f1"] == pytest.approx(1.0)
    opposite = label_agreement(_Constant([1, 1, 0, 0]), dialogues, ["x", "y"])
    assert opposite["kappa"] == pytest.approx(-1.0) and opposite["per_label_f1"] == {"x": 0.0, "y": 0.0}
    half = label_agreement(_Constant([0, 1, 1, 1]), dialogues, ["x", "y"])
    # observed 3/4, expected (2*1 + 2*3)/16 = 1/2 -> kappa 0.5.
    assert half["kappa"] == pytest.approx(0.5)
    assert half["per_label_f1"]["x"] == pytest.approx(2 / 3) and half["per_label_f1"]["y"] == pytest.approx(0.8)
