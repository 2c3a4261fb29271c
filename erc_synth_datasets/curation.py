"""Curation of a synthetic config by label quality: score every utterance's label with out-of-sample probabilities
(a teacher's, which never trained on the synthetic rows it scores), then keep or drop utterances or dialogues.

Scores and issues come from cleanlab (`cleanlab.rank.get_label_quality_scores`, `cleanlab.filter.find_label_issues`),
which finds label errors from predicted probabilities (confident learning, Northcutt et al. 2021).

Policies (`ConfigName` / `Variant` spell them as suffixes):

- `clean`: drop the utterances cleanlab flags as label issues (`unit="dialogue"`: drop the dialogues in which more
  than half the utterances are flagged);
- `top<q>`: keep the q% of utterances (or dialogues, by their mean score) with the best label-quality scores.

A dropped utterance keeps its place in the dialogue (it is context for the others) with `label_weights` 0, so it is
never a training target. Every curation is recorded with its counts per label and split before and after.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .build import ConfigBuild
from .derived import DerivedLabels, read_config_rows, same_labels, write_derived_config
from .errors import ErcSynthError
from .vocabulary import ConfigName, LabelSource, check_curation

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CurationError", "CurationOptions", "curate_config", "label_issues", "label_quality_scores", "select"]

UNITS = ("utterance", "dialogue")
LABEL_CHOICES = ("generator", "source")


class CurationError(ErcSynthError, ValueError):
    """A curation that cannot be made (the message says which setting or config, and what is needed)."""


@dataclass
class CurationOptions:
    """Options of `erc-synth curate`.

    Args:
        dataset: A dataset folder built by erc-synth.
        dataset_config: The config to score: one relabelled by a teacher (`meld_natural_teacher`), whose
            probabilities score the labels.
        policy: `clean` or `top<q>` (see the module docstring).
        labels: Which labels are curated: `generator` (the generator's own labels, scored by the teacher's
            probabilities: cleanlab's confident learning) or `source` (the config's own labels, e.g. the teacher's,
            scored by its confidence; `top<q>` only).
        unit: Keep or drop single `utterance`s, or whole `dialogue`s.
    """

    dataset: str = field(metadata={"help": "A dataset folder built by erc-synth.", "positional": True})
    dataset_config: str = field(
        default="",
        metadata={"help": "Config whose label probabilities score the labels, e.g. meld_natural_teacher."},
    )
    policy: str = field(
        default="clean",
        metadata={"help": "clean (drop what cleanlab flags) or top<q> (keep the q%% best scored, e.g. top50)."},
    )
    labels: str = field(
        default="generator",
        metadata={
            "help": "generator: curate the generator's labels, scored by the config's probabilities; source: curate "
            "the config's own labels by their confidence (top<q> only)."
        },
    )
    unit: str = field(default="utterance", metadata={"help": "Drop single utterances, or whole dialogues."})

    def __post_init__(self) -> None:
        if not self.dataset_config:
            raise CurationError("--dataset-config is required: the config whose label probabilities score the labels.")
        try:
            check_curation(self.policy)
        except ErcSynthError as err:
            raise CurationError(f"--policy: {err}") from None
        if self.labels not in LABEL_CHOICES:
            raise CurationError(f"--labels must be one of {list(LABEL_CHOICES)}, but got {self.labels!r}.")
        if self.unit not in UNITS:
            raise CurationError(f"--unit must be one of {list(UNITS)}, but got {self.unit!r}.")
        if self.labels == "source" and self.policy == "clean":
            raise CurationError(
                "--policy clean with --labels source would score the config's labels by the probabilities they were "
                "taken from (nothing is ever flagged); use --policy top<q> to keep the most confident ones, or "
                "--labels generator."
            )


def label_quality_scores(labels: Sequence[int], probs: np.ndarray) -> np.ndarray:
    """cleanlab's label-quality score of every label in [0, 1] (self-confidence: the given label's probability)."""
    import numpy as np  # loaded when labels are scored, not by `erc-synth curate --help`
    from cleanlab.rank import get_label_quality_scores

    return np.asarray(get_label_quality_scores(np.asarray(labels), probs, method="self_confidence"))


def label_issues(labels: Sequence[int], probs: np.ndarray) -> np.ndarray:
    """Whether cleanlab flags each label as an issue (confident learning, pruned by noise rate)."""
    import numpy as np  # loaded when labels are scored, not by `erc-synth curate --help`
    from cleanlab.filter import find_label_issues

    labels = np.asarray(labels)
    present = np.unique(labels)
    if len(present) < 2:  # confident learning needs at least two classes among the labels
        return np.zeros(len(labels), dtype=bool)
    # Classes no utterance carries are left out of the joint estimate (cleanlab needs an example of each class).
    sub = probs[:, present]
    sub = sub / sub.sum(axis=1, keepdims=True).clip(min=1e-12)
    remap = {label: i for i, label in enumerate(present)}
    return np.asarray(find_label_issues(np.array([remap[v] for v in labels]), sub, filter_by="prune_by_noise_rate"))


def select(
    scores: np.ndarray, issues: np.ndarray, policy: str, groups: Sequence[int], unit: str = "utterance"
) -> np.ndarray:
    """The utterances kept (a boolean mask) by `policy` at `unit` level; `groups` is each utterance's dialogue."""
    import numpy as np  # loaded when labels are scored, not by `erc-synth curate --help`

    groups = np.asarray(groups)
    if unit == "dialogue":
        dialogues = np.unique(groups)
        if policy == "clean":
            dropped = {g for g in dialogues if issues[groups == g].mean() > 0.5}
            return np.array([g not in dropped for g in groups])
        means = {g: scores[groups == g].mean() for g in dialogues}
        keep = _top(np.array([means[g] for g in dialogues]), policy)
        kept = {g for g, k in zip(dialogues, keep, strict=True) if k}
        return np.array([g in kept for g in groups])
    return ~issues if policy == "clean" else _top(scores, policy)


def _top(scores: np.ndarray, policy: str) -> np.ndarray:
    """The `top<q>` share of `scores` (ties broken by position, so the count is exact)."""
    import numpy as np  # loaded when labels are scored, not by `erc-synth curate --help`

    q = int(policy.removeprefix("top"))
    count = math.ceil(len(scores) * q / 100)
    order = np.argsort(-scores, kind="stable")
    keep = np.zeros(len(scores), dtype=bool)
    keep[order[:count]] = True
    return keep


def curate_config(options: CurationOptions) -> ConfigBuild:
    """Scores the chosen labels of `options.dataset_config`, applies the policy to every split, writes the result.

    The curated config is `<base>_<policy>` for the generator's labels (`meld_natural_clean`: generator labels,
    one-hot targets) and `<config>_<policy>` for the config's own labels (`meld_natural_teacher_top50`).

    Raises:
        CurationError: the config carries no probabilities to score with (relabel it first).
    """
    import numpy as np  # loaded when labels are scored, not by `erc-synth curate --help`

    source = read_config_rows(options.dataset, options.dataset_config)
    if source.build.label_source is None:
        raise CurationError(
            f"Config {options.dataset_config!r} has no label probabilities to score with; relabel it with a teacher "
            f"first (erc-synth relabel {options.dataset} --dataset-config {options.dataset_config} --teacher "
            f"RUN/model) and curate {options.dataset_config}_teacher."
        )
    name = ConfigName.parse(options.dataset_config)
    generator = options.labels == "generator"
    target = (
        ConfigName(name.benchmark, name.mode, persona=name.persona, curation=options.policy)
        if generator
        else ConfigName(name.benchmark, name.mode, persona=name.persona, labels=name.labels, curation=options.policy)
    )
    labels: dict[str, DerivedLabels] = {}
    before: dict[str, list[int]] = {}
    after: dict[str, list[int]] = {}
    scored = kept = 0
    for split in source.splits:
        current = same_labels(source, split)
        rows = source.splits[split]
        column = "generator_emotions" if generator else "emotions"
        ids = np.array(source.utterance_labels(split, column), dtype=int)
        probs = np.array([p for row in current.probs for p in row], dtype=float).reshape(len(ids), len(source.labels))
        prior = np.array([w for row in current.weights for w in row], dtype=float) > 0
        groups = [i for i, row in enumerate(rows) for _ in row["utterances"]]
        scores = label_quality_scores(ids, probs) if len(ids) else np.zeros(0)
        issues = label_issues(ids, probs) if len(ids) else np.zeros(0, dtype=bool)
        keep = select(scores, issues, options.policy, groups, options.unit) & prior if len(ids) else prior
        scored, kept = scored + int(prior.sum()), kept + int(keep.sum())
        before[split] = [int(((ids == i) & prior).sum()) for i in range(len(source.labels))]
        after[split] = [int(((ids == i) & keep).sum()) for i in range(len(source.labels))]
        names = [source.labels[i] for i in ids]
        one_hot = [[1.0 if j == i else 0.0 for j in range(len(source.labels))] for i in ids]
        new_probs = one_hot if generator else probs.tolist()
        labels[split] = _per_dialogue(rows, names, new_probs, keep.astype(float).tolist())
    curation = {
        "policy": options.policy,
        "unit": options.unit,
        "labels": "generator" if generator else source.build.label_source.get("source", LabelSource.GENERATOR.value),
        "description": _describe(options),
        "scored_with": f"the label probabilities of `{options.dataset_config}` (cleanlab {_cleanlab_version()})",
        "scored_utterances": scored,
        "kept_utterances": kept,
        "label_counts_before": before,
        "label_counts_after": after,
    }
    label_source = None if generator else source.build.label_source
    if generator:
        label_source = {"source": LabelSource.GENERATOR.value}
    return write_derived_config(source, target, labels, label_source=label_source, curation=curation)


def _per_dialogue(
    rows: list[dict[str, Any]], names: list[str], probs: list[list[float]], weights: list[float]
) -> DerivedLabels:
    out = DerivedLabels(emotions=[], probs=[], weights=[])
    start = 0
    for row in rows:
        end = start + len(row["utterances"])
        out.emotions.append(names[start:end])
        out.probs.append(probs[start:end])
        out.weights.append(weights[start:end])
        start = end
    return out


def _describe(options: CurationOptions) -> str:
    unit = "utterances" if options.unit == "utterance" else "dialogues"
    if options.policy == "clean":
        return f"{unit} flagged as label issues by cleanlab dropped"
    return f"the {options.policy.removeprefix('top')}% best-scored {unit} kept"


def _cleanlab_version() -> str:
    from importlib.metadata import version

    return version("cleanlab")
