"""The dataset card: parses back with `DatasetCard.load`, lists every config, and its numbers equal the data's."""

from __future__ import annotations

import os
import re
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from datasets import Features, load_dataset
from huggingface_hub import DatasetCard
from run_fixtures import SCRIPTED_MODEL, write_run

from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.build import BuildConfig, build_dataset
from erc_synth_datasets.card import merge_cards, section_names, size_category
from erc_synth_datasets.schema import dialogue_features


def config_section(text: str, name: str) -> str:
    start = text.index(f"<!-- erc-synth:config {name} start -->")
    return text[start : text.index(f"<!-- erc-synth:config {name} end -->")]


def label_table(section: str, labels: tuple[str, ...]) -> dict[str, list[int]]:
    """label -> [train, validation, test, total] from the card's 'Utterances per label' table."""
    table = section[section.index("**Utterances per label**") :]
    rows = {}
    for i, label in enumerate(labels):
        match = re.search(rf"^\| {i} \| {re.escape(label)} \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", table, re.M)
        assert match, f"no row for {label}"
        rows[label] = [int(g) for g in match.groups()]
    return rows


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("card")
    runs = [
        write_run(root / "runs" / "mb", "meld", "balanced", num_dialogues=14, seed=4, num_rejected=2),
        write_run(root / "runs" / "in", "iemocap", "natural", num_dialogues=11, seed=5, num_rejected=0),
    ]
    out = root / "erc-synth"
    build_dataset(runs, BuildConfig(output=str(out), license="cc-by-4.0", repo_id="my-org/erc-synth"))
    return out


def test_card_parses_and_lists_every_config(built):
    card = DatasetCard.load(built / "README.md")
    data = card.data.to_dict()
    names = ["iemocap_natural", "meld_balanced"]
    assert [c["config_name"] for c in data["configs"]] == names
    assert [i["config_name"] for i in data["dataset_info"]] == names
    for entry in data["configs"]:
        name = entry["config_name"]
        assert entry["data_files"] == [
            {"split": split, "path": f"{name}/{split}-*"} for split in ("train", "validation", "test")
        ]
    assert data["annotations_creators"] == ["machine-generated"]
    assert "synthetic" in data["tags"] and "meld" in data["tags"] and "iemocap" in data["tags"]
    assert data["license"] == "cc-by-4.0"
    assert data["task_categories"] == ["text-classification"]
    assert data["size_categories"] == ["n<1K"]
    assert section_names(card.text) == names


def test_card_numbers_equal_the_data(built, tmp_path):
    card = DatasetCard.load(built / "README.md")
    infos = {info["config_name"]: info for info in card.data.to_dict()["dataset_info"]}
    for name, benchmark in (("meld_balanced", "meld"), ("iemocap_natural", "iemocap")):
        bench = get_benchmark(benchmark)
        ds = load_dataset(str(built), name, cache_dir=str(tmp_path / "cache"))
        info = infos[name]
        assert {s["name"]: s["num_examples"] for s in info["splits"]} == ds.num_rows
        assert Features._from_yaml_list(info["features"]) == dialogue_features(bench)
        section = config_section(card.text, name)
        table = label_table(section, bench.labels)
        for split_index, split in enumerate(("train", "validation", "test")):
            counted = [0] * bench.num_labels
            for emotions in ds[split]["emotions"]:
                for label_id in emotions:
                    counted[label_id] += 1
            assert [table[label][split_index] for label in bench.labels] == counted
        total_utterances = sum(sum(len(e) for e in ds[split]["emotions"]) for split in ds)
        assert sum(row[3] for row in table.values()) == total_utterances
        for split in ds:
            assert re.search(rf"^\| {split} \| {ds.num_rows[split]} \| ", section, re.M)
        # Legend in canonical order, with the words the prompts used.
        for i, (label, word) in enumerate(zip(bench.labels, bench.label_words, strict=True)):
            assert f"| {i} | {label} | {word} |" in section
        plot = built / name / "label_distribution.png"
        assert plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert f"]({name}/label_distribution.png)" in section
    meld = config_section(card.text, "meld_balanced")
    assert "accepted 14 of 16 attempts, acceptance rate 87.5%" in meld
    assert "neutral 2, surprise 2, fear 2, sadness 2, joy 2, disgust 2, anger 2" in meld  # balanced targets
    assert "task: Write a short scene from the TV sitcom Friends" in meld  # the full prompt template
    assert "temperature=0.7, top_p=0.95, top_k=100" in meld
    assert f"`{SCRIPTED_MODEL}` | `None` | transformers | meld-v3" in meld
    assert "@inproceedings{poria2019meld" in meld
    assert "accepted 11 of 11 attempts, acceptance rate 100.0%" in config_section(card.text, "iemocap_natural")


def test_card_prose_for_researchers(built):
    text = (built / "README.md").read_text()
    assert "A synthetic label is the generator's own, not a human annotation." in text
    assert 'load_dataset("my-org/erc-synth", "iemocap_natural")' in text
    assert "flatten_dialogues" in text
    assert "## How to cite" in text and "@software{erc_synth" in text


def test_size_category():
    assert [size_category(n) for n in (0, 999, 1000, 12_345, 2_000_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "10K<n<100K",
        "1M<n<10M",
    ]


def test_merge_cards_keeps_prose_and_other_configs(tmp_path: Path):
    first = build_dataset(
        [write_run(tmp_path / "r1", "meld", "natural", num_dialogues=10, seed=1)],
        BuildConfig(output=str(tmp_path / "one")),
    ).output
    second = build_dataset(
        [write_run(tmp_path / "r2", "emorynlp", "balanced", num_dialogues=10, seed=2)],
        BuildConfig(output=str(tmp_path / "two")),
    ).output
    existing = (first / "README.md").read_text().replace("## How to cite", "Hand-written remark.\n\n## How to cite")
    existing = existing.replace("- dialogue\n", "- dialogue\n- hand-added-tag\n", 1)
    merged = merge_cards(existing, (second / "README.md").read_text())
    data = merged.data.to_dict()
    assert [c["config_name"] for c in data["configs"]] == ["emorynlp_balanced", "meld_natural"]
    assert [i["config_name"] for i in data["dataset_info"]] == ["emorynlp_balanced", "meld_natural"]
    assert "hand-added-tag" in data["tags"] and "emorynlp" in data["tags"] and "meld" in data["tags"]
    assert "Hand-written remark." in merged.text
    assert section_names(merged.text) == ["emorynlp_balanced", "meld_natural"]
    assert config_section(merged.text, "meld_natural") == config_section(existing, "meld_natural")
    # Merging the same card again changes nothing.
    assert str(merge_cards(str(merged), (second / "README.md").read_text())) == str(merged)
