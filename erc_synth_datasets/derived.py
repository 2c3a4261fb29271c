"""Configs derived from a built config: the same dialogues, relabelled by another label source or curated.

A derived config is written next to its source config in the dataset folder (`meld_natural` -> `meld_natural_teacher`,
`meld_natural_clean`, `meld_natural_teacher_top50`; `ConfigName`), with the features of `schema.derived_features`:
`emotions` the labels it trains on, `generator_emotions` the generator's own labels (never overwritten), `label_probs`
and `label_weights` per utterance, `label_source`. Its `build_info.json` and card section record where the labels came
from and what curation kept. The source config is left as it is; `load_dataset(folder, name)` loads the new one like
any config.

The label sources themselves live where their models do: the teacher classifier in `trainers.relabel`, the cleanlab
scores in `erc_synth_datasets.curation`. This module only reads and writes configs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .build import (
    BUILD_INFO_NAME,
    PLOT_NAME,
    BuildError,
    ConfigBuild,
    read_config_build,
    update_dataset_folder,
    write_splits,
)
from .files import write_json_atomic
from .splitting import SPLIT_NAMES
from .swap import recover_swap
from .vocabulary import ConfigName, LabelSource, VocabularyError

__all__ = ["ConfigRows", "DerivedLabels", "read_config_rows", "same_labels", "write_derived_config"]


@dataclass
class ConfigRows:
    """The rows of one config of a dataset folder, split by split, with label names (not ids) in `emotions`."""

    folder: Path
    name: str
    build: ConfigBuild
    splits: dict[str, list[dict[str, Any]]]

    @property
    def labels(self) -> list[str]:
        return list(self.build.benchmark.labels)

    def utterance_labels(self, split: str, column: str = "emotions") -> list[int]:
        """The label ids of `column` for every utterance of `split`, in dialogue order then turn order."""
        index = {label: i for i, label in enumerate(self.labels)}
        return [index[label] for row in self.splits[split] for label in row[column]]


@dataclass
class DerivedLabels:
    """New labels for every utterance of one split, one list per dialogue (in the split's order).

    Args:
        emotions: Hard label names.
        probs: The probability of every label, canonical order.
        weights: 1.0 for a training target, 0.0 for an utterance curation dropped.
    """

    emotions: list[list[str]]
    probs: list[list[list[float]]]
    weights: list[list[float]]


def read_config_rows(folder: str | Path, name: str) -> ConfigRows:
    """Reads every split of config `name` of a dataset folder built by erc-synth.

    Raises:
        BuildError: the folder has no such config, or a split's file is missing.
    """
    import pyarrow.parquet as pq

    folder = Path(folder)
    recover_swap(folder)
    build = read_config_build(folder, name)
    names = list(build.benchmark.labels)
    splits = {}
    for split in [s for s in SPLIT_NAMES if s in build.files]:
        path = folder / build.files[split]
        if not path.is_file():
            raise BuildError(f"Config {name!r} of {str(folder)!r} lacks its {split} file {str(path)!r}; rebuild it.")
        rows = pq.read_table(path).to_pylist()
        for row in rows:  # label ids -> names, as a build's records carry them
            for column in ("emotions", "generator_emotions"):
                if row.get(column) is not None:
                    row[column] = [names[i] for i in row[column]]
        splits[split] = rows
    return ConfigRows(folder=folder, name=name, build=build, splits=splits)


def _one_hot(label: str, labels: Sequence[str]) -> list[float]:
    return [1.0 if name == label else 0.0 for name in labels]


def write_derived_config(
    source: ConfigRows,
    name: str | ConfigName,
    labels: dict[str, DerivedLabels],
    *,
    label_source: dict[str, Any] | None = None,
    curation: dict[str, Any] | None = None,
) -> ConfigBuild:
    """Writes config `name` into the source's dataset folder: the source's dialogues with `labels`.

    Args:
        source: The config derived from (a built config, or one derived earlier: its generator labels carry over).
        name: The derived config's name; its base must be the source's base config.
        labels: Per split, the new labels of every utterance.
        label_source: Where the labels came from (`source` and the labeller's identity), for the card.
        curation: The curation record (policy, counts before and after), for the card.

    Raises:
        BuildError: the name does not derive from the source, or the labels do not match the dialogues.
    """
    try:
        parsed = ConfigName.parse(str(name))
        base = ConfigName.parse(source.name).base
    except VocabularyError as err:
        raise BuildError(f"Derived config {str(name)!r}: {err}") from None
    if not parsed.is_derived or parsed.base != base:
        raise BuildError(
            f"A config derived from {source.name!r} is named {base}_<teacher|resampled>[_<curation>] or "
            f"{base}_<curation>, but got {str(name)!r}."
        )
    splits: dict[str, list[dict[str, Any]]] = {}
    for split in source.splits:
        rows, new = source.splits[split], labels[split]
        if len(new.emotions) != len(rows) or any(
            len(e) != len(row["utterances"]) or len(p) != len(e) or len(w) != len(e)
            for row, e, p, w in zip(rows, new.emotions, new.probs, new.weights, strict=True)
        ):
            raise BuildError(f"The new labels of the {split} split of {source.name!r} do not match its dialogues.")
        splits[split] = [
            {
                **{key: value for key, value in row.items() if key not in ("label_source",)},
                "generator_emotions": row.get("generator_emotions") or row["emotions"],
                "emotions": emotions,
                "label_probs": probs,
                "label_weights": weights,
                "label_source": (label_source or {}).get("source", LabelSource.GENERATOR.value),
            }
            for row, emotions, probs, weights in zip(rows, new.emotions, new.probs, new.weights, strict=True)
        ]
    derived_name = str(parsed)
    inherited = source.build.label_source
    record = {**(label_source or inherited or {"source": LabelSource.GENERATOR.value}), "derived_from": source.name}
    agreement = [
        (a == b, w)
        for rows in splits.values()
        for row in rows
        for a, b, w in zip(row["emotions"], row["generator_emotions"], row["label_weights"], strict=True)
    ]
    record["agreement_with_generator"] = sum(same for same, _ in agreement) / max(1, len(agreement))

    def write(staging: Path) -> list[ConfigBuild]:
        folder = staging / derived_name
        folder.mkdir(parents=True)
        build = dataclasses.replace(
            source.build,
            name=derived_name,
            label_source=record,
            curation=curation,
            quality=None,
            **{key: {} for key in ("files", "file_sizes", "file_sha256", "num_bytes")},
        )
        written = write_splits(derived_name, splits, folder, build.features, build.benchmark)
        build = dataclasses.replace(build, plot=f"{derived_name}/{PLOT_NAME}", **written)
        write_json_atomic(folder / BUILD_INFO_NAME, build.to_dict(), sort_keys=True)
        return [build]

    # huggingface_hub's DatasetCard: loaded only when a card is written.
    from .card import card_settings_of

    readme = source.folder / "README.md"
    settings = card_settings_of(readme.read_text(encoding="utf-8") if readme.is_file() else None)
    settings.repo_id = source.folder.name
    built, _ = update_dataset_folder(source.folder.absolute(), [derived_name], write, settings)
    return built[0]


def same_labels(source: ConfigRows, split: str) -> DerivedLabels:
    """The split's current labels as `DerivedLabels` (probabilities one-hot unless the config carries its own)."""
    rows = source.splits[split]
    return DerivedLabels(
        emotions=[list(row["emotions"]) for row in rows],
        probs=[
            row.get("label_probs") or [_one_hot(label, source.labels) for label in row["emotions"]] for row in rows
        ],
        weights=[row.get("label_weights") or [1.0] * len(row["emotions"]) for row in rows],
    )
