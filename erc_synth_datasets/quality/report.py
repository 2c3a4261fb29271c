"""The quality report: every synthetic figure beside the same figure of the real benchmark (see docs/quality.md for
the JSON contract).

Figures that depend on sample size (distinct-n, n-gram overlap, clusters) are computed on samples of the same size
on both sides, taken from fixed grids (`TOKEN_BUDGETS`, `SAMPLE_SIZES`), so that stored reference figures
(`reference.py`) and figures computed from `--data-dir` are comparable with any synthetic set.
"""

from __future__ import annotations

import copy
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..benchmarks import Benchmark
from ..configuration import check_fields
from .metrics import (
    Dialogue,
    distinct_n,
    follows_legend_order,
    is_repetitive,
    label_entropy,
    near_duplicate_share,
    repeated_utterance_flags,
    sample_by_tokens,
    self_overlap,
    word_tokens,
)
from .models import (
    DialogueClassifier,
    SentenceEncoder,
    dialogue_classifier_agreement,
    discriminator_auc,
    embedding_diversity,
    label_agreement,
    train_reference_classifier,
)
from .sources import SyntheticSource

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CLASSIFIER_REFERENCE",
    "FIDELITY_FIGURES",
    "REPORT_FORMAT_VERSION",
    "SAMPLE_SIZES",
    "SECTIONS",
    "TFIDF_REFERENCE",
    "TOKEN_BUDGETS",
    "QualitySettings",
    "compute_report",
    "grid_point",
    "label_distribution",
    "label_fidelity",
    "sampled_figures",
    "shape_figures",
]

REPORT_FORMAT_VERSION = 1
SECTIONS = ("degeneracy", "diversity", "realism", "label_fidelity", "judge")
#: Word budgets at which distinct-n is compared.
TOKEN_BUDGETS = (250, 500, 1000, 2000, 5000, 10000, 20000, 50000)
#: Dialogue sample sizes at which n-gram overlap and embedding figures are compared.
SAMPLE_SIZES = (10, 20, 40, 100, 200, 500)
#: Names of the label-fidelity references (`label_fidelity.references`): TF-IDF + logistic regression trained on the
#: real train split, and a trained classifier the user gives (`erc-synth quality --classifier`).
TFIDF_REFERENCE = "tfidf_lr"
CLASSIFIER_REFERENCE = "classifier"
#: The figures of each label-fidelity reference.
FIDELITY_FIGURES = ("kappa", "weighted_f1", "per_label_f1")


@dataclass
class QualitySettings:
    """Settings of a quality report."""

    repetitive_threshold: float = field(
        default=0.7,
        metadata={
            "range": "[0, 1]",
            "help": "An utterance is repetitive when distinct word trigrams / trigrams < this.",
        },
    )
    legend_run: int = field(
        default=4,
        metadata={
            "range": "[1, 1000]",
            "help": "Labels that must count through the legend (1, 2, 3, ...) to flag a dialogue.",
        },
    )
    near_duplicate_jaccard: float = field(
        default=0.5,
        metadata={
            "range": "(0, 1]",
            "help": "Word-trigram Jaccard similarity at which two dialogues are near-duplicates.",
        },
    )
    embedding_duplicate_similarity: float = field(
        default=0.95,
        metadata={
            "range": "[-1, 1]",
            "help": "Embedding cosine similarity at which two dialogues are near-duplicates.",
        },
    )
    cluster_distance: float = field(
        default=0.5,
        metadata={"range": "(0, 2]", "help": "Cosine distance below which agglomerative clustering merges dialogues."},
    )
    encoder: str | None = field(
        default=None,
        metadata={"help": "Sentence encoder (sentence-transformers id or folder); default all-MiniLM-L6-v2."},
    )
    embeddings: bool = field(default=True, metadata={"help": "Compute embedding diversity (loads the encoder)."})
    seed: int = field(default=0, metadata={"range": "[0, 4294967295]", "help": "Seed of every sample and classifier."})

    def __post_init__(self) -> None:
        check_fields(self)


def grid_point(grid: Sequence[int], available: int) -> int | None:
    """The largest grid value <= `available`, or None when even the smallest is too large."""
    fitting = [value for value in grid if value <= available]
    return max(fitting) if fitting else None


def label_distribution(dialogues: Sequence[Dialogue], num_labels: int) -> list[float]:
    """Share of utterances per label id."""
    import numpy as np  # loaded when a report is computed, not by `erc-synth quality --help`

    counts = np.bincount([e for d in dialogues for e in d.emotions], minlength=num_labels).astype(float)
    total = counts.sum()
    return (counts / total).tolist() if total else [0.0] * num_labels


def _mean(values: Sequence[float]) -> float | None:
    return float(statistics.fmean(values)) if values else None


def shape_figures(dialogues: Sequence[Dialogue], benchmark: Benchmark, settings: QualitySettings) -> dict[str, Any]:
    """Figures that are means over dialogues or utterances (no sampling): degeneracy rates and dialogue shape."""
    utterances = [u for d in dialogues for u in d.utterances]
    repeats = [flag for d in dialogues for flag in repeated_utterance_flags(d.utterances)]
    turns = [len(d.utterances) for d in dialogues]
    return {
        "repeated_utterances": _mean([float(f) for f in repeats]),
        "repetitive_utterances": _mean(
            [float(is_repetitive(u, threshold=settings.repetitive_threshold)) for u in utterances]
        ),
        "legend_order_dialogues": _mean(
            [float(follows_legend_order(d.emotions, min_run=settings.legend_run)) for d in dialogues]
        ),
        "label_entropy": _mean([label_entropy(d.emotions) for d in dialogues]),
        "turns_mean": _mean(turns),
        "turns_median": float(statistics.median(turns)) if turns else None,
        "words_per_utterance": _mean([len(word_tokens(u)) for u in utterances]),
        "speakers_per_dialogue": _mean([len(set(d.speakers)) for d in dialogues]),
        "label_distribution": label_distribution(dialogues, benchmark.num_labels),
        "turns_histogram": {str(k): v for k, v in sorted(_count(turns).items())},
        "dialogues": len(dialogues),
        "utterances": len(utterances),
        "words": sum(len(word_tokens(u)) for u in utterances),
    }


def _count(values: Sequence[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def sampled_figures(
    dialogues: Sequence[Dialogue],
    *,
    budget: int | None,
    size: int | None,
    settings: QualitySettings,
    encode: Callable[[list[str]], np.ndarray] | None,
) -> dict[str, Any]:
    """Figures on seeded samples of a given size: distinct-1/2/3 on `budget` words, n-gram overlap, lexical and
    embedding near-duplicates and clusters on `size` dialogues."""

    figures: dict[str, Any] = {}
    if budget is not None:
        sample = sample_by_tokens([u for d in dialogues for u in d.utterances], budget, seed=settings.seed)
        for n in (1, 2, 3):
            figures[f"distinct_{n}"] = distinct_n(sample, n)
    if size is not None:
        chosen = random.Random(settings.seed).sample(list(dialogues), size)
        documents = [[t for u in d.utterances for t in word_tokens(u)] for d in chosen]
        figures["ngram_overlap"] = self_overlap(documents)
        figures["near_duplicates_lexical"] = near_duplicate_share(
            [d.utterances for d in chosen], settings.near_duplicate_jaccard
        )
        if encode is not None:
            diversity = embedding_diversity(
                encode([d.text for d in chosen]),
                cluster_distance=settings.cluster_distance,
                duplicate_similarity=settings.embedding_duplicate_similarity,
            )
            figures.update({f"embedding_{key}": value for key, value in diversity.items()})
    return figures


def _pair(synthetic: Any, real: Any) -> dict[str, Any]:
    return {"synthetic": synthetic, "real": real}


def _jsd(first: Sequence[float], second: Sequence[float]) -> float | None:
    from scipy.spatial.distance import jensenshannon

    if not sum(first) or not sum(second):
        return None
    # scipy returns the Jensen-Shannon distance; its square is the divergence (base 2: in [0, 1]).
    return float(jensenshannon(first, second, base=2) ** 2)


def _fidelity_pairs(ours: dict[str, Any] | None, theirs: dict[str, Any] | None) -> dict[str, Any]:
    return {key: _pair(ours and ours[key], theirs and theirs[key]) for key in FIDELITY_FIGURES}


def label_fidelity(
    synthetic: Sequence[Dialogue],
    benchmark: Benchmark,
    *,
    real: Sequence[Dialogue] | None = None,
    real_test: Sequence[Dialogue] | None = None,
    reference: dict[str, Any] | None = None,
    classifier: DialogueClassifier | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The label-fidelity section: agreement between the generator's labels and each reference classifier.

    Args:
        synthetic: The synthetic dialogues.
        benchmark: Their benchmark (label names in canonical order).
        real: The real train split; the TF-IDF + logistic regression reference is trained on it.
        real_test: The real test split; each reference's agreement on it is the real side of its figures.
        reference: Stored real figures, whose TF-IDF reference agreement is the real side when `real` is None.
        classifier: A trained reference classifier; reported under `references.classifier` with its `describe()`.
        seed: Seed of the TF-IDF reference.

    Returns:
        `references` (reference name -> `kappa`, `weighted_f1`, `per_label_f1` pairs; `model` for the classifier)
        and, for the readers of the first contract, the TF-IDF reference's pairs at the top level. Empty when there
        is no reference at all.
    """

    references: dict[str, Any] = {}
    if real is not None:
        tfidf = train_reference_classifier(real, seed=seed)
        ours = label_agreement(tfidf, synthetic, benchmark.labels)
        theirs = label_agreement(tfidf, real_test, benchmark.labels) if real_test else None
        if theirs is None and reference is not None:
            theirs = reference.get("label_fidelity")
        references[TFIDF_REFERENCE] = _fidelity_pairs(ours, theirs)
    elif reference is not None and reference.get("label_fidelity"):
        # Without the real train split there is no TF-IDF reference to score the synthetic labels with; the stored
        # figures still show what it reaches on real data.
        references[TFIDF_REFERENCE] = _fidelity_pairs(None, reference["label_fidelity"])
    if classifier is not None:
        ours = dialogue_classifier_agreement(classifier, synthetic, benchmark.labels)
        theirs = dialogue_classifier_agreement(classifier, real_test, benchmark.labels) if real_test else None
        references[CLASSIFIER_REFERENCE] = {**_fidelity_pairs(ours, theirs), "model": classifier.describe()}
    if not references:
        return {}
    # A copy: the top level and `references` are two views, not one object written twice into the JSON.
    return {**copy.deepcopy(references.get(TFIDF_REFERENCE, {})), "references": references}


def compute_report(
    source: SyntheticSource,
    *,
    real: Sequence[Dialogue] | None = None,
    real_test: Sequence[Dialogue] | None = None,
    reference: dict[str, Any] | None = None,
    settings: QualitySettings | None = None,
    classifier: DialogueClassifier | None = None,
    judge: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Computes the quality report of a synthetic source against a real benchmark.

    Args:
        source: The synthetic dialogues (`sources.load_run` or `sources.load_dataset_config`).
        real: The real train split; when given every real figure is computed from it.
        real_test: The real test split (the reference classifier's own agreement and a real-vs-real discriminator).
        reference: Stored real figures (`reference.load_reference`), used when `real` is None.
        settings: Report settings.
        classifier: A trained reference classifier (`models.DialogueClassifier`, e.g. a saved erc-synth
            classifier); its label fidelity is reported beside the TF-IDF + logistic regression reference's.
        judge: The LLM-judge summary (`judge.summarize_judgements`), when one was run.

    Returns:
        The report as a JSON-ready dict (see docs/quality.md).
    """

    settings = settings or QualitySettings()
    benchmark = source.benchmark
    synthetic = source.dialogues
    ours = shape_figures(synthetic, benchmark, settings)
    if real is not None:
        theirs = shape_figures(real, benchmark, settings)
        real_kind = "data"
    elif reference is not None:
        theirs = reference["shape"]
        real_kind = "stored"
    else:
        theirs = {}
        real_kind = "none"

    real_words = theirs.get("words", 0)
    real_dialogues = theirs.get("dialogues", 0)
    budget = grid_point(TOKEN_BUDGETS, min(ours["words"], real_words) if theirs else ours["words"])
    size = grid_point(SAMPLE_SIZES, min(len(synthetic), real_dialogues) if theirs else len(synthetic))
    encoder = SentenceEncoder(settings.encoder) if settings.embeddings and size is not None else None
    encode = encoder.encode if encoder is not None else None
    ours_sampled = sampled_figures(synthetic, budget=budget, size=size, settings=settings, encode=encode)
    if real is not None:
        theirs_sampled = sampled_figures(real, budget=budget, size=size, settings=settings, encode=encode)
    elif reference is not None:
        theirs_sampled = {
            **reference["by_budget"].get(str(budget), {}),
            **reference["by_size"].get(str(size), {}),
        }
    else:
        theirs_sampled = {}

    at_max = None
    real_at_max = None
    if source.max_turns is not None:
        at_max = _mean([float(len(d.utterances) >= source.max_turns) for d in synthetic])
        if real is not None:
            real_at_max = _mean([float(len(d.utterances) >= source.max_turns) for d in real])
    attempts = source.attempts
    cut_off = source.cut_off / attempts if attempts and source.cut_off is not None else None
    degeneracy = {
        "repeated_utterances": _pair(ours["repeated_utterances"], theirs.get("repeated_utterances")),
        "repetitive_utterances": _pair(ours["repetitive_utterances"], theirs.get("repetitive_utterances")),
        "legend_order_dialogues": _pair(ours["legend_order_dialogues"], theirs.get("legend_order_dialogues")),
        "label_entropy": _pair(ours["label_entropy"], theirs.get("label_entropy")),
        "at_max_turns": _pair(at_max, real_at_max),
        "cut_off_attempts": _pair(cut_off, None),
    }
    diversity_keys = [
        "distinct_1",
        "distinct_2",
        "distinct_3",
        "ngram_overlap",
        "near_duplicates_lexical",
        "embedding_mean_pairwise_distance",
        "embedding_clusters_per_100",
        "embedding_near_duplicate_share",
    ]
    diversity = {key: _pair(ours_sampled.get(key), theirs_sampled.get(key)) for key in diversity_keys}
    diversity["near_duplicates_whole_set"] = _pair(
        near_duplicate_share([d.utterances for d in synthetic], settings.near_duplicate_jaccard), None
    )

    real_distribution = theirs.get("label_distribution")
    realism: dict[str, Any] = {
        key: _pair(ours[key], theirs.get(key))
        for key in ("turns_mean", "turns_median", "words_per_utterance", "speakers_per_dialogue")
    }
    realism["label_distribution"] = _pair(
        dict(zip(benchmark.labels, ours["label_distribution"], strict=True)),
        dict(zip(benchmark.labels, real_distribution, strict=True)) if real_distribution else None,
    )
    realism["label_jsd"] = _pair(
        _jsd(ours["label_distribution"], real_distribution) if real_distribution else None, None
    )
    realism["discriminator_auc"] = _pair(
        discriminator_auc(real, synthetic, seed=settings.seed) if real is not None else None,
        discriminator_auc(real, real_test, seed=settings.seed) if real is not None and real_test else None,
    )

    fidelity = label_fidelity(
        synthetic,
        benchmark,
        real=real,
        real_test=real_test,
        reference=reference,
        classifier=classifier,
        seed=settings.seed,
    )

    return {
        "format_version": REPORT_FORMAT_VERSION,
        "benchmark": benchmark.name,
        "labels": list(benchmark.labels),
        "source": source.describe(),
        "real": {"kind": real_kind, "dialogues": real_dialogues, "words": real_words},
        "settings": asdict(settings),
        "samples": {"token_budget": budget, "dialogues": size, "encoder": encoder.name if encoder else None},
        "counts": {
            "accepted": len(synthetic),
            "utterances": ours["utterances"],
            "attempts": attempts,
            "acceptance_rate": len(synthetic) / attempts if attempts else None,
            "rejections": source.rejections,
        },
        "turns_histogram": _pair(ours["turns_histogram"], theirs.get("turns_histogram")),
        "degeneracy": degeneracy,
        "diversity": diversity,
        "realism": realism,
        "label_fidelity": fidelity,
        "judge": judge,
    }
