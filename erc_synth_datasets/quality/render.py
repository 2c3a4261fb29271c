"""Markdown views of a quality report: the full report, and the short section a dataset card carries."""

from __future__ import annotations

from typing import Any

from .report import CLASSIFIER_REFERENCE, TFIDF_REFERENCE

__all__ = [
    "CARD_METRICS",
    "METRIC_TITLES",
    "REFERENCE_NAMES",
    "REFERENCE_TITLES",
    "headline_figures",
    "render_card_section",
    "render_markdown",
]

#: Row titles of the report's figures (section -> key -> title); the order is the order of the tables.
METRIC_TITLES: dict[str, dict[str, str]] = {
    "degeneracy": {
        "repeated_utterances": "utterances repeating an earlier one in the same dialogue",
        "repetitive_utterances": "repetitive utterances (distinct word trigrams < threshold)",
        "legend_order_dialogues": "dialogues whose first labels step through the legend in order",
        "label_entropy": "label entropy within a dialogue (bits, mean)",
        "at_max_turns": "dialogues at max_turns",
        "cut_off_attempts": "attempts cut off by max_new_tokens",
    },
    "diversity": {
        "distinct_1": "distinct-1",
        "distinct_2": "distinct-2",
        "distinct_3": "distinct-3",
        "ngram_overlap": "word-trigram overlap between dialogues (self-BLEU analogue, lower is more diverse)",
        "near_duplicates_lexical": "near-duplicate dialogues in the sample (trigram Jaccard)",
        "near_duplicates_whole_set": "near-duplicate dialogues in the whole set (trigram Jaccard)",
        "embedding_mean_pairwise_distance": "mean pairwise cosine distance (embeddings)",
        "embedding_clusters_per_100": "embedding clusters per 100 dialogues",
        "embedding_near_duplicate_share": "near-duplicate dialogues (embeddings)",
    },
    "realism": {
        "turns_mean": "turns per dialogue (mean)",
        "turns_median": "turns per dialogue (median)",
        "words_per_utterance": "words per utterance (mean)",
        "speakers_per_dialogue": "speakers per dialogue (mean)",
        "label_jsd": "label distribution, Jensen-Shannon divergence from real",
        "discriminator_auc": "real-vs-synthetic discriminator ROC AUC (0.5 = indistinguishable)",
    },
    "label_fidelity": {
        "kappa": "Cohen's kappa, generator labels vs reference classifier",
        "weighted_f1": "weighted F1, generator labels vs reference classifier",
    },
}

#: What the tables call each label-fidelity reference (`label_fidelity.references`), in table order.
REFERENCE_NAMES: dict[str, str] = {
    TFIDF_REFERENCE: "reference classifier",
    CLASSIFIER_REFERENCE: "trained classifier",
}
#: Label-fidelity row titles per reference (reference -> key -> title); the TF-IDF reference keeps the titles of the
#: first contract's top-level figures.
REFERENCE_TITLES: dict[str, dict[str, str]] = {
    name: {
        "kappa": f"Cohen's kappa, generator labels vs {title}",
        "weighted_f1": f"weighted F1, generator labels vs {title}",
    }
    for name, title in REFERENCE_NAMES.items()
}

#: The figures a dataset card shows (section, key).
CARD_METRICS = (
    ("degeneracy", "repeated_utterances"),
    ("degeneracy", "repetitive_utterances"),
    ("degeneracy", "legend_order_dialogues"),
    ("diversity", "distinct_2"),
    ("diversity", "embedding_mean_pairwise_distance"),
    ("realism", "label_jsd"),
    ("realism", "discriminator_auc"),
    ("label_fidelity", "kappa"),
)


def _format(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _table(rows: list[tuple[str, Any, Any]]) -> list[str]:
    lines = ["| measure | synthetic | real |", "|---|---:|---:|"]
    lines += [f"| {title} | {_format(ours)} | {_format(theirs)} |" for title, ours, theirs in rows]
    return lines


def _section_rows(report: dict[str, Any], section: str) -> list[tuple[str, Any, Any]]:
    figures = report.get(section) or {}
    return [
        (title, figures[key]["synthetic"], figures[key]["real"])
        for key, title in METRIC_TITLES[section].items()
        if key in figures
    ]


def _references(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Reference name -> its label-fidelity figures, in table order (a report without `references` is one of the
    first contract: its top-level figures are the TF-IDF reference's)."""
    fidelity = report.get("label_fidelity") or {}
    references = fidelity.get("references")
    if references is None:
        references = {TFIDF_REFERENCE: fidelity} if fidelity else {}
    return {name: references[name] for name in REFERENCE_NAMES if references.get(name)}


def _fidelity_rows(report: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    return [
        (title, figures[key]["synthetic"], figures[key]["real"])
        for name, figures in _references(report).items()
        for key, title in REFERENCE_TITLES[name].items()
        if key in figures
    ]


def _classifier_note(report: dict[str, Any]) -> list[str]:
    """Which trained classifier the report used, when it used one."""
    classifier = _references(report).get(CLASSIFIER_REFERENCE)
    if not classifier:
        return []
    model = classifier.get("model") or {}
    about = []
    if model.get("architecture"):
        about.append(f"architecture `{model['architecture']}`")
    if model.get("benchmark"):
        about.append(f"trained on `{model['benchmark']}`")
    return [
        "",
        f"Trained classifier: `{model.get('path')}`" + (f" ({', '.join(about)})" if about else "") + ", every "
        "utterance read in its dialogue context as in training. Reference classifier: TF-IDF + logistic regression "
        "trained on the real train split. Real column: each classifier on the real test split.",
    ]


def _real_name(report: dict[str, Any]) -> str:
    kind = report["real"]["kind"]
    if kind == "data":
        return f"the real {report['benchmark']} train split"
    if kind == "stored":
        return f"stored figures of the real {report['benchmark']} train split"
    return "no real data"


def render_markdown(report: dict[str, Any], *, plots: dict[str, str] | None = None) -> str:
    """The whole report as Markdown: one table per section, synthetic beside real.

    Args:
        report: A report from `compute_report`.
        plots: Plot name -> path relative to the Markdown file, embedded under the tables.
    """
    source = report["source"]
    counts = report["counts"]
    samples = report["samples"]
    name = source["config"] or source["path"]
    lines = [
        f"# Quality report: {name}",
        "",
        f"Benchmark `{report['benchmark']}`, compared with {_real_name(report)}. "
        f"{counts['accepted']} dialogues, {counts['utterances']} utterances"
        + (
            f", acceptance rate {counts['acceptance_rate']:.1%} of {counts['attempts']} attempts."
            if counts["acceptance_rate"] is not None
            else "."
        ),
        f"Sampled figures use {_format(samples['token_budget'])} words and {_format(samples['dialogues'])} "
        f"dialogues per side (encoder: {samples['encoder'] or 'none'}).",
    ]
    if counts.get("rejections"):
        lines += ["", "Rejections: " + ", ".join(f"{code} {n}" for code, n in counts["rejections"].items()) + "."]
    for section in ("degeneracy", "diversity", "realism", "label_fidelity"):
        rows = _fidelity_rows(report) if section == "label_fidelity" else _section_rows(report, section)
        if rows:
            lines += ["", f"## {section.replace('_', ' ').capitalize()}", "", *_table(rows)]
    lines += _classifier_note(report)
    for name, figures in _references(report).items():
        per_label = figures.get("per_label_f1")
        if per_label and per_label["synthetic"]:
            real = per_label["real"] or {}
            lines += ["", f"Per-label F1 (generator labels vs {REFERENCE_NAMES[name]}):", ""]
            lines += _table([(label, score, real.get(label)) for label, score in per_label["synthetic"].items()])
    distribution = report["realism"]["label_distribution"]
    real = distribution["real"] or {}
    lines += ["", "Label distribution (share of utterances):", ""]
    lines += _table([(label, share, real.get(label)) for label, share in distribution["synthetic"].items()])
    judge = report.get("judge")
    if judge:
        lines += ["", "## LLM judge", "", f"Judge `{judge['model']}` over {judge['judged']} dialogues.", ""]
        lines += _table([(key, value, None) for key, value in judge["means"].items()])
    for title, path in (plots or {}).items():
        lines += ["", f"![{title}]({path})"]
    return "\n".join(lines) + "\n"


def headline_figures(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures a card shows (`CARD_METRICS`, then the trained classifier's kappa when there is one), as data:
    `<section>.<key>` -> `title`, `synthetic`, `real`."""
    figures: dict[str, dict[str, Any]] = {}
    for section, key in CARD_METRICS:
        figure = (report.get(section) or {}).get(key)
        if figure is not None:
            figures[f"{section}.{key}"] = {"title": METRIC_TITLES[section][key], **figure}
    classifier = _references(report).get(CLASSIFIER_REFERENCE)
    if classifier:
        kappa = classifier["kappa"]
        figures[f"label_fidelity.{CLASSIFIER_REFERENCE}.kappa"] = {
            "title": REFERENCE_TITLES[CLASSIFIER_REFERENCE]["kappa"],
            "synthetic": kappa["synthetic"],
            "real": kappa["real"],
        }
    return figures


def render_card_section(report: dict[str, Any], *, plot: str | None = None) -> str:
    """The short quality block of a config's dataset-card section: the headline figures beside the real ones.

    Args:
        report: A report from `compute_report`.
        plot: Path of a quality plot relative to the card, embedded below the table.
    """
    rows = [(figure["title"], figure["synthetic"], figure["real"]) for figure in headline_figures(report).values()]
    counts = report["counts"]
    lines = [
        "#### Quality",
        "",
        f"Measured by `erc-synth quality` against {_real_name(report)}"
        + (f"; acceptance rate {counts['acceptance_rate']:.1%}." if counts["acceptance_rate"] is not None else "."),
        "",
        *_table(rows),
    ]
    if plot:
        lines += ["", f"![quality]({plot})"]
    return "\n".join(lines) + "\n"
