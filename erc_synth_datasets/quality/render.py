"""Markdown views of a quality report: the full report, and the short section a dataset card carries."""

from __future__ import annotations

from typing import Any

__all__ = ["CARD_METRICS", "METRIC_TITLES", "render_card_section", "render_markdown"]

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
        rows = _section_rows(report, section)
        if rows:
            lines += ["", f"## {section.replace('_', ' ').capitalize()}", "", *_table(rows)]
    per_label = (report.get("label_fidelity") or {}).get("per_label_f1")
    if per_label and per_label["synthetic"]:
        real = per_label["real"] or {}
        lines += ["", "Per-label F1 (generator labels vs reference classifier):", ""]
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


def render_card_section(report: dict[str, Any], *, plot: str | None = None) -> str:
    """The short quality block of a config's dataset-card section: the headline figures beside the real ones.

    Args:
        report: A report from `compute_report`.
        plot: Path of a quality plot relative to the card, embedded below the table.
    """
    rows = []
    for section, key in CARD_METRICS:
        figure = (report.get(section) or {}).get(key)
        if figure is not None:
            rows.append((METRIC_TITLES[section][key], figure["synthetic"], figure["real"]))
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
