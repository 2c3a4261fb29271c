"""Building from real SmolLM2-135M-Instruct generation output: `erc-synth generate` then `erc-synth build`, loaded
back with `load_dataset`, checked against the run's manifest, and rebuilt byte for byte.

One tiny run is generated per test session (4 short natural MELD dialogues: about a minute on 2 idle cores).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard

from erc_synth import cli
from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.runs import iter_accepted, read_manifest
from erc_synth_datasets.schema import dialogue_features

pytestmark = pytest.mark.slow

GENERATE = [
    "--benchmark", "meld", "--mode", "natural", "--num-dialogues", "4", "--seed", "0", "--max-new-tokens", "112",
    "--batch-size", "4", "--max-turns", "3", "--max-utterance-chars", "40", "--max-attempts", "3", "--no-progress",
]  # fmt: skip
RATIOS = "0.5,0.25,0.25"


@pytest.fixture(scope="session")
def real_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("generated") / "meld_natural"
    assert cli.main(["generate", *GENERATE, "--output-dir", str(run_dir)]) == 0
    manifest = read_manifest(run_dir).to_dict()
    assert manifest["counts"]["accepted"] >= 3, f"these settings are expected to give 3+ dialogues: {manifest}"
    return run_dir


def digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_build_from_real_generation_output(real_run, tmp_path, monkeypatch):
    manifest = read_manifest(real_run).to_dict()
    records = [record.to_dict() for record in iter_accepted(real_run)]
    benchmark = get_benchmark("meld")
    out = tmp_path / "first" / "erc-synth"
    assert cli.main(["build", str(real_run), "--output-dir", str(out), "--split-ratios", RATIOS]) == 0

    monkeypatch.chdir(out.parent)
    ds = load_dataset("erc-synth", "meld_natural", cache_dir=str(tmp_path / "cache"))
    assert list(ds) == ["train", "validation", "test"]
    assert all(n >= 1 for n in ds.num_rows.values())
    assert sum(ds.num_rows.values()) == manifest["counts"]["accepted"] == len(records)
    features = ds["train"].features
    assert features == dialogue_features(benchmark)
    assert features["emotions"].feature.names == list(benchmark.labels)
    by_id = {r["dialogue_id"]: r for r in records}
    for split in ds.values():
        for row in split:
            source = by_id[row["dialogue_id"]]
            assert row["utterances"] == source["utterances"]
            assert [benchmark.labels[i] for i in row["emotions"]] == source["emotions"]
            assert row["generator_model"] == manifest["model"]
            assert row["prompt"] == source["prompt"]

    card = DatasetCard.load(out / "README.md")
    data = card.data.to_dict()
    assert [c["config_name"] for c in data["configs"]] == ["meld_natural"]
    (info,) = data["dataset_info"]
    assert {s["name"]: s["num_examples"] for s in info["splits"]} == ds.num_rows
    counts = manifest["counts"]
    rate = f"{100 * counts['accepted'] / counts['attempts']:.1f}%"
    assert f"accepted {counts['accepted']} of {counts['attempts']} attempts, acceptance rate {rate}" in card.text
    assert f"`{manifest['model']}` | `{manifest['model_revision']}`" in card.text
    assert manifest["prompt_version"] in card.text
    total = sum(len(r["emotions"]) for r in records)
    for i, label in enumerate(benchmark.labels):
        count = sum(r["emotions"].count(label) for r in records)
        row = re.search(rf"^\| {i} \| {label} \| \d+ \| \d+ \| \d+ \| (\d+) \| (\S+) \|$", card.text, re.M)
        assert row and row.groups() == (str(count), f"{100 * count / total:.1f}%")

    # Determinism: a second build elsewhere gives the same bytes.
    again = tmp_path / "second" / "erc-synth"
    assert cli.main(["build", str(real_run), "--output-dir", str(again), "--split-ratios", RATIOS]) == 0
    assert digests(out) == digests(again)
