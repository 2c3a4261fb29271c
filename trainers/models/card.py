"""The model card (`README.md`) of a saved classifier: what it was trained on, with which data revisions, and its
weighted F1 on every test set beside the baselines scored on the same sets (all read from `results.json`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

__all__ = ["CARD_NAME", "model_card", "write_model_card"]

CARD_NAME = "README.md"

_BASELINE_NAMES = {"majority": "majority class", "tfidf_lr": "TF-IDF + logistic regression"}


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _data_rows(data: dict[str, Any]) -> list[str]:
    """One Markdown row per training or test data source, with what pins its content."""
    rows = []
    real = data.get("real") or {}
    if real:
        counts = real.get("num_utterances", {})
        rows.append(
            f"| real | {Path(str(real.get('source', ''))).name} ({real.get('format', 'auto')}) | "
            f"sha256 `{real.get('sha256') or '-'}` | {', '.join(f'{k}: {v}' for k, v in counts.items())} |"
        )
    for config, record in (data.get("synthetic") or {}).items():
        counts = record.get("num_utterances", {})
        pin = record.get("revision") or record.get("sha256") or "-"
        rows.append(
            f"| {config} | {record.get('source', '-')} | revision `{pin}` | "
            f"{', '.join(f'{k}: {v}' for k, v in counts.items())} |"
        )
    return rows


def model_card(results: dict[str, Any]) -> ModelCard:
    """The model card of the classifier a run trained, from that run's `results.json` content.

    Args:
        results: The protocol's results (`test`, `baselines`, `data`, `stages`, `settings`).
    """
    architecture, benchmark, backbone = results["architecture"], results["benchmark"], results["model"]
    tests, baselines = results.get("test", {}), results.get("baselines", {})
    eval_results = [
        EvalResult(
            task_type="text-classification",
            task_name="Emotion recognition in conversation",
            dataset_type=name,
            dataset_name=name,
            metric_type="f1",
            metric_name="weighted F1",
            metric_value=round(100 * scores["weighted_f1"], 2),
        )
        for name, scores in tests.items()
    ]
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=["erc-synth", "emotion-recognition-in-conversation", architecture],
        metrics=["f1"],
        base_model=backbone if not Path(backbone).exists() else None,
        model_name=f"erc-synth {architecture} ({benchmark}, {results.get('variant', 'org')})",
        eval_results=eval_results or None,
    )
    baseline_names = list(dict.fromkeys(b for per_set in baselines.values() for b in per_set))
    header = ["test set", "this model", *(_BASELINE_NAMES.get(b, b) for b in baseline_names)]
    score_rows = [
        "| "
        + " | ".join(
            [
                name,
                _percent(scores.get("weighted_f1")),
                *(_percent(baselines.get(name, {}).get(b, {}).get("weighted_f1")) for b in baseline_names),
            ]
        )
        + " |"
        for name, scores in tests.items()
    ]
    stages = [
        f"| {s['name']} | {s['train_split']} | {s['train_utterances']} | {s['num_train_epochs']} | "
        f"{s['learning_rate']} |"
        for s in results.get("stages", [])
    ]
    body = "\n".join(
        [
            f"# {data.model_name}",
            "",
            f"An emotion classifier for utterances in dialogue, trained with erc-synth: architecture "
            f"`{architecture}` on the backbone `{backbone}`, predicting the {benchmark} labels "
            f"{', '.join(results.get('labels', []))}. Seed {results.get('seed')}.",
            "",
            "```python",
            "import trainers.models.base  # registers the erc-synth model type with the Auto classes",
            "from transformers import AutoModel",
            "",
            'model = AutoModel.from_pretrained("path/to/this/folder")',
            "```",
            "",
            "or label a file of dialogues: `erc-synth predict FOLDER dialogues.jsonl --output-dir out.jsonl`.",
            "",
            "## Weighted F1 (%) per test set, baselines beside it",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *score_rows,
            "",
            "The baselines are fitted on the same real train split and scored by the same evaluation code.",
            "",
            "## Training stages",
            "",
            "| stage | train split | utterances | epochs | learning rate |",
            "|---|---|---:|---:|---:|",
            *stages,
            "",
            "## Data",
            "",
            "| data | source | pinned by | utterances |",
            "|---|---|---|---|",
            *_data_rows(results.get("data", {})),
            "",
        ]
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def write_model_card(folder: str | Path, results: dict[str, Any]) -> Path:
    """Writes `README.md` (the model card) into a saved classifier's folder; returns its path."""
    path = Path(folder) / CARD_NAME
    model_card(results).save(path)
    return path
