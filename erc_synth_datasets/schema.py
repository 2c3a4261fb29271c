"""The one dialogue schema shared by real benchmark data and synthetic data, and its utterance-level view."""

from __future__ import annotations

from typing import Any

from datasets import ClassLabel, Dataset, Features, List, Value

from .benchmarks import Benchmark, get_benchmark

__all__ = [
    "LABEL_COLUMNS",
    "PROVENANCE_COLUMNS",
    "SAMPLING_FEATURES",
    "derived_features",
    "dialogue_features",
    "empty_provenance",
    "flatten_dialogues",
    "utterance_features",
]

# Sampling parameters recorded with every synthetic dialogue; None where a backend does not use one.
SAMPLING_FEATURES = {
    "temperature": Value("float64"),
    "top_p": Value("float64"),
    "top_k": Value("int64"),
    "typical_p": Value("float64"),
    "repetition_penalty": Value("float64"),
    "max_new_tokens": Value("int64"),
}

# Filled by generation, None in real benchmark data.
PROVENANCE_FEATURES = {
    "mode": Value("string"),  # "natural" or "balanced"
    "target_emotion": Value("string"),  # label name the balanced prompt asked for
    "persona": Value("string"),  # JSON of the layered personas and situation, when persona conditioning was on
    "generator_model": Value("string"),
    "sampling": SAMPLING_FEATURES,
    "seed": Value("int64"),
    "prompt_version": Value("string"),
    "prompt": Value("string"),  # the exact prompt text the generator saw
}
PROVENANCE_COLUMNS = tuple(PROVENANCE_FEATURES)


def dialogue_features(benchmark: str | Benchmark) -> Features:
    """Features of one row per dialogue, with `emotions` a `ClassLabel` in the benchmark's canonical order."""
    benchmark = get_benchmark(benchmark)
    return Features(
        {
            "dialogue_id": Value("string"),
            "speakers": List(Value("string")),
            "utterances": List(Value("string")),
            "emotions": List(ClassLabel(names=list(benchmark.labels))),
            **PROVENANCE_FEATURES,
        }
    )


def derived_features(benchmark: str | Benchmark) -> Features:
    """Features of a config derived from a built one by relabelling or curation (`erc-synth relabel` / `curate`).

    `emotions` holds the labels the config trains on (hard labels); the columns added keep what they came from:
    `generator_emotions` the generator's own labels (never overwritten), `label_probs` per utterance the probability
    of every label in canonical order (the soft target; one-hot where the labels are hard), `label_weights` per
    utterance 1.0 or 0.0 (kept or dropped by curation: a dropped utterance stays in the dialogue as context of the
    others but is no training target) and `label_source` (`generator`, `teacher`, `resampled`).
    """
    benchmark = get_benchmark(benchmark)
    return Features(
        {
            **dialogue_features(benchmark),
            "generator_emotions": List(ClassLabel(names=list(benchmark.labels))),
            "label_probs": List(List(Value("float32"))),
            "label_weights": List(Value("float32")),
            "label_source": Value("string"),
        }
    )


#: The per-utterance columns of a derived config and the name each takes in the utterance view.
LABEL_COLUMNS = {"label_probs": "label_probs", "label_weights": "label_weight"}


def utterance_features(benchmark: str | Benchmark | list[str]) -> Features:
    """Features of the utterance-level view: one row per utterance with the dialogue before it.

    Args:
        benchmark: A benchmark (name or definition), or the label names of a dataset's own `ClassLabel`.
    """
    names = list(benchmark) if isinstance(benchmark, list) else list(get_benchmark(benchmark).labels)
    return Features(
        {
            "dialogue_id": Value("string"),
            "turn": Value("int32"),
            "speaker": Value("string"),
            "utterance": Value("string"),
            "emotion": ClassLabel(names=names),
            "context_speakers": List(Value("string")),
            "context_utterances": List(Value("string")),
        }
    )


def empty_provenance() -> dict[str, Any]:
    """Provenance values of a real (human-annotated) dialogue."""
    return dict.fromkeys(PROVENANCE_COLUMNS)


def _flatten_batch(batch: dict[str, list], max_context: int | None) -> dict[str, list]:
    out: dict[str, list] = {name: [] for name in ("dialogue_id", "turn", "speaker", "utterance", "emotion")}
    out["context_speakers"], out["context_utterances"] = [], []
    carried = [(column, LABEL_COLUMNS[column]) for column in LABEL_COLUMNS if column in batch]
    for _, name in carried:
        out[name] = []
    for index, (dialogue_id, speakers, utterances, emotions) in enumerate(
        zip(batch["dialogue_id"], batch["speakers"], batch["utterances"], batch["emotions"], strict=True)
    ):
        for turn, (speaker, utterance, emotion) in enumerate(zip(speakers, utterances, emotions, strict=True)):
            start = 0 if max_context is None else max(0, turn - max_context)
            out["dialogue_id"].append(dialogue_id)
            out["turn"].append(turn)
            out["speaker"].append(speaker)
            out["utterance"].append(utterance)
            out["emotion"].append(emotion)
            out["context_speakers"].append(speakers[start:turn])
            out["context_utterances"].append(utterances[start:turn])
            for column, name in carried:
                out[name].append(batch[column][index][turn])
    return out


def flatten_dialogues(dialogues: Dataset, *, max_context: int | None = None, num_proc: int | None = None) -> Dataset:
    """One row per utterance, with the speakers and utterances that precede it in its dialogue.

    Args:
        dialogues: Rows in the dialogue schema (`dialogue_features`).
        max_context: Keep at most this many preceding turns (the most recent ones); None keeps them all.
        num_proc: Worker processes for `Dataset.map`.

    Returns:
        A `Dataset` with `utterance_features`, in dialogue order then turn order; a derived config's rows also
        carry `label_probs` (the utterance's soft label) and `label_weight` (`derived_features`).
    """
    if max_context is not None and max_context < 0:
        raise ValueError(f"max_context must be None or >= 0, but got max_context={max_context}.")
    emotions = dialogues.features.get("emotions")
    if emotions is None or not isinstance(getattr(emotions, "feature", None), ClassLabel):
        raise ValueError(
            "flatten_dialogues expects the dialogue schema (an 'emotions' list of ClassLabel), "
            f"but got features={dialogues.features}."
        )
    return dialogues.map(
        _flatten_batch,
        batched=True,
        fn_kwargs={"max_context": max_context},
        remove_columns=dialogues.column_names,
        features=_with_label_columns(utterance_features(list(emotions.feature.names)), dialogues.column_names),
        num_proc=num_proc,
        desc="Flattening dialogues",
    )


def _with_label_columns(features: Features, columns: list[str]) -> Features:
    extra = {"label_probs": List(Value("float32")), "label_weight": Value("float32")}
    return Features({**features, **{LABEL_COLUMNS[c]: extra[LABEL_COLUMNS[c]] for c in LABEL_COLUMNS if c in columns}})
