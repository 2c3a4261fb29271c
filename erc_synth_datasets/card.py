"""The dataset card (README.md of a dataset repository): structured card data plus the project's templates.

The YAML metadata (`configs:`, `dataset_info:`, license, task and size categories, tags) is what `datasets` and the
Hub read; the prose describes each config in a section between markers, so that updating one config (on build or
on push) replaces only that section and keeps every other word of the card::

    <!-- erc-synth:config meld_balanced start -->
    ...
    <!-- erc-synth:config meld_balanced end -->
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huggingface_hub import DatasetCard, DatasetCardData

from .benchmarks import Benchmark, builtin_benchmarks, get_benchmark
from .errors import ErcSynthError

if TYPE_CHECKING:
    from .build import BuildConfig, ConfigBuild

__all__ = [
    "CONFIGS_END",
    "CardSettings",
    "card_settings_of",
    "CardError",
    "UNKNOWN_LICENCE",
    "data_licence",
    "card_metadata",
    "load_card_data",
    "merge_cards",
    "render_card",
    "render_config_section",
    "section_names",
    "size_category",
]

TEMPLATES = Path(__file__).parent / "templates"
CARD_TEMPLATE = TEMPLATES / "dataset_card.md"
SECTION_TEMPLATE = TEMPLATES / "config_section.md"
CONFIGS_END = "<!-- erc-synth:configs end -->"
_SECTION_RE = re.compile(
    r"<!-- erc-synth:config (?P<name>[A-Za-z0-9_.-]+) start -->\n.*?<!-- erc-synth:config (?P=name) end -->\n?",
    re.DOTALL,
)
_MERGED_KEYS = ("configs", "dataset_info")
_UNION_KEYS = ("tags", "task_categories", "task_ids", "language", "annotations_creators", "language_creators")


class CardError(ErcSynthError, ValueError):
    """A dataset card cannot be read or merged."""


@dataclass
class CardSettings:
    """Card metadata that does not come from the data.

    Args:
        license: License identifier (`apache-2.0`, `cc-by-4.0`, ...); None takes the licence of the real data the
            configs imitate, from the benchmark definition (`data_licence`).
        pretty_name: Human-readable dataset name.
        repo_id: Repository the loading examples use (`<org>/<name>`, or a local folder name).
        language: Languages of the dialogues.
        extra_tags: Tags added to the defaults (`synthetic`, `emotion-recognition`, ...).
    """

    license: str | None = field(
        default=None, metadata={"help": "License identifier of the data (default: the imitated benchmark's)."}
    )
    pretty_name: str = field(default="erc-synth", metadata={"help": "Human-readable dataset name."})
    repo_id: str = field(default="erc-synth", metadata={"help": "Repository the card's loading examples use."})
    language: list[str] = field(default_factory=lambda: ["en"], metadata={"help": "Languages of the dialogues."})
    extra_tags: list[str] = field(default_factory=list, metadata={"help": "Tags added to the defaults."})


#: The card's `license:` when the data's licence is not known (the card then asks for it).
UNKNOWN_LICENCE = "unknown"


def _licence_of(benchmark: Benchmark) -> str:
    """The licence a benchmark's definition gives its real data (a built-in one's from the registry, for configs
    built before definitions carried it); empty when unknown."""
    if benchmark.licence or benchmark.name not in builtin_benchmarks():
        return benchmark.licence
    return get_benchmark(benchmark.name).licence


def data_licence(configs: Sequence[ConfigBuild], explicit: str | None = None) -> tuple[str, str]:
    """The card's licence identifier and the sentence the card says about it.

    The licence set for the build (`--license`) wins; else the licence of the real data the configs imitate, from
    the benchmark definitions (the built-in registry, or a custom YAML's `licence:`), when they all agree; else
    `unknown`, and the sentence asks for one.
    """
    benchmarks = {build.benchmark.name: build.benchmark for build in configs}
    if explicit:
        return explicit, f"The data is released under `{explicit}` (set with `--license`)."
    licences = {name: _licence_of(benchmark) for name, benchmark in sorted(benchmarks.items())}
    known = set(licences.values())
    if len(known) == 1 and "" not in known:
        (licence,) = known
        names = ", ".join(benchmarks[name].display_name for name in licences)
        return licence, (
            f"The dialogues imitate {names}, whose data is released under `{licence}`; that licence is taken for "
            "this data (from the benchmark definition). Set another with `erc-synth build --license ID`."
        )
    stated = ", ".join(f"{benchmarks[n].display_name}: {v or 'not stated'}" for n, v in licences.items()) or "none"
    return UNKNOWN_LICENCE, (
        f"The licence of this data is unknown (the imitated benchmarks' licences: {stated}). Check the terms of the "
        "real data the dialogues imitate and set the licence with `erc-synth build --license ID` (or `licence:` "
        "in a custom benchmark's YAML)."
    )


DEFAULT_TAGS = ("synthetic", "emotion-recognition", "emotion-recognition-in-conversation", "dialogue", "erc-synth")


def load_card_data(config: BuildConfig) -> CardSettings:
    """Card settings from a build's settings (the repo id defaults to the output folder's name)."""
    return CardSettings(
        license=config.license,
        pretty_name=config.pretty_name,
        repo_id=config.repo_id or Path(config.output_dir).name,
    )


def size_category(num_rows: int) -> str:
    """The Hub's size category of a dataset with `num_rows` rows (dialogues)."""
    bounds = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ]
    for bound, name in bounds:
        if num_rows < bound:
            return name
    return "n>10M"


def _config_entry(build: ConfigBuild) -> dict[str, Any]:
    return {
        "config_name": build.name,
        "data_files": [{"split": split, "path": f"{build.name}/{split}-*"} for split in build.num_dialogues],
    }


def _dataset_info_entry(build: ConfigBuild) -> dict[str, Any]:
    from datasets import DatasetInfo, SplitDict, SplitInfo

    splits = SplitDict()
    for split, count in build.num_dialogues.items():
        splits.add(SplitInfo(name=split, num_bytes=build.num_bytes[split], num_examples=count))
    info = DatasetInfo(
        features=build.features,
        splits=splits,
        download_size=sum(build.file_sizes.values()),
        dataset_size=sum(build.num_bytes.values()),
    )
    entry = {"config_name": build.name, **info._to_yaml_dict()}
    if build.file_sha256:
        # `datasets` keys its cache of a local folder by this metadata only: without a fingerprint of the data, a
        # rebuild with equal sizes (e.g. other ids of the same length) would be served from the stale cache.
        fingerprint = hashlib.sha256("".join(build.file_sha256[s] for s in sorted(build.file_sha256)).encode())
        entry["description"] = f"erc-synth config {build.name}; data sha256 {fingerprint.hexdigest()}"
    return entry


def card_metadata(configs: Sequence[ConfigBuild], settings: CardSettings) -> DatasetCardData:
    """The card's YAML metadata for `configs` (every config of the repository)."""
    total = sum(sum(build.num_dialogues.values()) for build in configs)
    benchmarks = sorted({build.benchmark.name for build in configs})
    tags = list(dict.fromkeys([*DEFAULT_TAGS, *benchmarks, *settings.extra_tags]))
    return DatasetCardData(
        pretty_name=settings.pretty_name,
        license=data_licence(configs, settings.license)[0],
        language=list(settings.language),
        annotations_creators=["machine-generated"],
        language_creators=["machine-generated"],
        multilinguality=["monolingual"],
        size_categories=[size_category(total)],
        source_datasets=["original"],
        task_categories=["text-classification"],
        task_ids=["sentiment-classification"],
        tags=tags,
        configs=[_config_entry(build) for build in sorted(configs, key=lambda b: b.name)],
        dataset_info=[_dataset_info_entry(build) for build in sorted(configs, key=lambda b: b.name)],
    )


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def _template_text(template: Any) -> str:
    """A prompt template as text; a structured template (its parts by name) is shown as the YAML it is written in."""
    if template is None:
        return ""
    if isinstance(template, str):
        return template
    import yaml

    return yaml.safe_dump(template, sort_keys=False, allow_unicode=True, width=1000).strip()


def render_config_section(build: ConfigBuild) -> str:
    """The card's prose for one config, between its start and end markers."""
    import jinja2

    labels = build.benchmark.labels
    splits = list(build.num_dialogues)
    total_utterances = sum(build.num_utterances.values())
    label_rows = []
    for i, label in enumerate(labels):
        counts = [build.label_counts[split][i] for split in splits]
        share = _percent(sum(counts), total_utterances)
        label_rows.append({"id": i, "name": label, "counts": counts, "total": sum(counts), "share": share})
    runs = []
    for run in build.runs:
        counts = run["counts"]
        sampling = run.get("sampling")
        elapsed = run.get("elapsed_seconds")
        runs.append(
            {
                **run,
                "acceptance": _percent(counts.get("accepted", 0), counts.get("attempts", 0)),
                "elapsed": f"{elapsed:.0f}" if isinstance(elapsed, (int, float)) else "",
                "sampling_text": ", ".join(f"{k}={v}" for k, v in sampling.items())
                if isinstance(sampling, dict)
                else json.dumps(sampling),
                "tokens": {"completion": (run.get("tokens") or {}).get("completion", "")},
            }
        )
    versions = [(run.get("prompt_version"), _template_text(run.get("prompt_template"))) for run in build.runs]
    prompts = list(dict.fromkeys(versions))
    template = jinja2.Template(SECTION_TEMPLATE.read_text(encoding="utf-8"), keep_trailing_newline=True)
    body = template.render(
        name=build.name,
        benchmark=build.benchmark,
        mode=build.mode,
        splits=splits,
        num_dialogues=build.num_dialogues,
        num_utterances=build.num_utterances,
        files=build.files,
        file_sha256=build.file_sha256,
        total_dialogues=sum(build.num_dialogues.values()),
        total_utterances=total_utterances,
        split_seed=build.split_seed,
        ratios_text=", ".join(f"{k} {v:g}" for k, v in build.split_ratios.items()),
        legend=[{"id": i, "name": n, "word": build.benchmark.label_words[i]} for i, n in enumerate(labels)],
        label_rows=label_rows,
        plot=build.plot,
        target_rows=", ".join(f"{label} {count}" for label, count in build.target_counts.items()),
        runs=runs,
        accepted=build.accepted,
        attempts=build.attempts,
        acceptance_rate=_percent(build.accepted, build.attempts),
        prompts=[{"version": version, "text": text} for version, text in prompts],
        quality=build.quality,
        utility=build.utility,
        label_source=build.label_source,
        curation=_curation_rows(build.curation, labels) if build.curation else None,
    )
    body = re.sub(r"\n{3,}", "\n\n", body).strip()
    return f"<!-- erc-synth:config {build.name} start -->\n{body}\n<!-- erc-synth:config {build.name} end -->\n"


def _curation_rows(curation: dict[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    """The curation record with one row per label: utterances kept as targets before and after, per split."""
    before, after = curation["label_counts_before"], curation["label_counts_after"]
    splits = list(before)
    rows = [
        {"name": label, "cells": [f"{before[s][i]} → {after[s][i]}" for s in splits]} for i, label in enumerate(labels)
    ]
    return {**curation, "splits": splits, "rows": rows}


def card_settings_of(text: str | None) -> CardSettings:
    """The card settings an existing card was rendered with (license, name, language), for re-rendering it."""
    if not text:
        return CardSettings()
    data = DatasetCard(text, ignore_metadata_errors=True).data.to_dict()
    language = data.get("language") or ["en"]
    return CardSettings(
        license=data.get("license") or None,
        pretty_name=data.get("pretty_name") or CardSettings.pretty_name,
        language=[language] if isinstance(language, str) else list(language),
    )


def section_names(text: str) -> list[str]:
    """Config names that have a section in a card's text, in order."""
    return [match.group("name") for match in _SECTION_RE.finditer(text)]


def render_card(
    built: Sequence[ConfigBuild],
    *,
    all_configs: Sequence[ConfigBuild] | None = None,
    existing: str | None = None,
    data: CardSettings | None = None,
) -> DatasetCard:
    """Renders the card of a dataset repository.

    Args:
        built: Configs built now; their sections are (re)written.
        all_configs: Every config of the repository (built now or kept); defaults to `built`.
        existing: The current README.md text, when there is one: its prose and metadata are kept, only the
            sections of `built` and the metadata entries of `all_configs` are replaced.
        data: Settings that do not come from the data.

    Returns:
        A `huggingface_hub.DatasetCard`.
    """
    data = data or CardSettings()
    all_configs = list(all_configs if all_configs is not None else built)
    metadata = card_metadata(all_configs, data)
    sections = "\n".join(render_config_section(build) for build in sorted(all_configs, key=lambda b: b.name))
    card = DatasetCard.from_template(
        metadata,
        template_path=str(CARD_TEMPLATE),
        pretty_name=data.pretty_name,
        repo_id=data.repo_id,
        example_config=sorted(all_configs, key=lambda b: b.name)[0].name if all_configs else "meld_balanced",
        licence_note=data_licence(all_configs, data.license)[1],
        config_sections=sections.strip(),
    )
    if existing is None:
        return card
    return merge_cards(existing, card, sections=[build.name for build in built])


def _merge_by_name(old: Iterable[dict[str, Any]] | dict | None, new: Iterable[dict[str, Any]] | dict | None) -> list:
    def as_list(value: Any) -> list[dict[str, Any]]:
        if value is None:
            return []
        if isinstance(value, dict):
            return [{"config_name": value.get("config_name", "default"), **value}]
        return [dict(item) for item in value]

    merged = {item.get("config_name", "default"): item for item in as_list(old)}
    merged.update({item.get("config_name", "default"): item for item in as_list(new)})
    return [merged[name] for name in sorted(merged)]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def merge_cards(existing: str, new: DatasetCard | str, *, sections: Sequence[str] | None = None) -> DatasetCard:
    """Merges a freshly rendered card into an existing one, keeping the existing prose.

    Metadata: `configs` and `dataset_info` are merged by config name (the new entry wins), list keys such as `tags`
    become the union, and other keys of the new card replace the existing values (keys only the existing card has
    are kept). Prose: the existing text is kept word for word except the sections of `sections` (default: every
    section of the new card), which are replaced, or inserted in name order when the existing card lacks them.

    Raises:
        CardError: the existing card's YAML cannot be parsed.
    """
    new_card = new if isinstance(new, DatasetCard) else DatasetCard(new)
    try:
        old_card = DatasetCard(existing, ignore_metadata_errors=True)
    except Exception as err:  # huggingface_hub raises ValueError or yaml errors
        raise CardError(f"The existing dataset card cannot be parsed ({err}); fix its YAML header.") from None
    old_meta, new_meta = old_card.data.to_dict(), new_card.data.to_dict()
    merged: dict[str, Any] = dict(old_meta)
    for key, value in new_meta.items():
        if key in _MERGED_KEYS:
            merged[key] = _merge_by_name(old_meta.get(key), value)
        elif key in _UNION_KEYS:
            merged[key] = list(dict.fromkeys([*_as_list(old_meta.get(key)), *_as_list(value)]))
        else:
            merged[key] = value
    if "dataset_info" in merged:
        total = sum(
            split.get("num_examples", 0) for info in merged["dataset_info"] for split in info.get("splits") or []
        )
        merged["size_categories"] = [size_category(total)]

    new_sections = {match.group("name"): match.group(0) for match in _SECTION_RE.finditer(new_card.text)}
    wanted = list(new_sections) if sections is None else [name for name in sections if name in new_sections]
    body = old_card.text
    present = set(section_names(body))
    for name in wanted:
        section = new_sections[name]
        if not section.endswith("\n"):
            section += "\n"
        if name in present:
            body = _SECTION_RE.sub(lambda m, s=section, n=name: s if m.group("name") == n else m.group(0), body)
            continue
        body = _insert_section(body, name, section)
        present.add(name)
    return DatasetCard(f"---\n{DatasetCardData(**merged).to_yaml()}\n---\n{body}")


def _insert_section(body: str, name: str, section: str) -> str:
    later = [m for m in _SECTION_RE.finditer(body) if m.group("name") > name]
    if later:
        position = later[0].start()
        return body[:position] + section + "\n" + body[position:]
    if CONFIGS_END in body:
        position = body.index(CONFIGS_END)
        prefix = body[:position]
        if not prefix.endswith("\n\n"):
            prefix = prefix.rstrip("\n") + "\n\n"
        return prefix + section + body[position:]
    return body.rstrip("\n") + "\n\n## Configs\n\n" + section
