"""`erc-synth demo` end to end: real SmolLM2 generation of a small meld_balanced set, build, `load_dataset`, statistics
and one sample dialogue (a few minutes on 2 cores)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from datasets import load_dataset

from erc_synth import cli
from erc_synth_datasets.runs import read_manifest

pytestmark = pytest.mark.slow


def test_demo_generates_builds_loads_and_shows(tmp_path, capsys):
    assert cli.main(["demo", "--output-dir", str(tmp_path / "demo"), "--skip-real"]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "demo" / "erc-synth"
    runs = sorted((tmp_path / "demo" / "runs").iterdir())
    accepted = sum(read_manifest(run).counts.accepted for run in runs)
    attempts = sum(read_manifest(run).counts.attempts for run in runs)
    ds = load_dataset(str(folder), "meld_balanced", cache_dir=str(tmp_path / "cache"))
    assert sum(ds.num_rows.values()) == accepted >= 3
    assert f'load_dataset("{folder}", "meld_balanced")' in out
    assert f"Acceptance: {accepted} of {attempts} attempts" in out
    assert "## meld_balanced (synthetic)" in out
    assert f"| dialogues | {ds.num_rows['train']} | {ds.num_rows['validation']} | {ds.num_rows['test']} |" in out
    first = ds["train"][0]
    assert f"== One dialogue: {first['dialogue_id']} (target emotion: {first['target_emotion']}) ==" in out
    names = ds["train"].features["emotions"].feature.names
    for speaker, utterance, emotion in zip(first["speakers"], first["utterances"], first["emotions"], strict=True):
        assert f"  {speaker}: {utterance}  [{names[emotion]}]" in out
    assert (folder / "README.md").is_file() and (folder / "meld_balanced" / "label_distribution.png").is_file()
