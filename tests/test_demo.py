"""`erc-synth demo` end to end: real SmolLM2 generation of exactly the dialogues asked for, build, `load_dataset`,
statistics, one sample dialogue and the quality headline beside the real MELD (a few minutes on 2 cores)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from datasets import load_dataset

from erc_synth import cli
from erc_synth.commands.demo import DEMO_GENERATION, MODEL_NOTE, QUALITY_HEADLINE
from erc_synth_datasets.runs import read_manifest

pytestmark = pytest.mark.slow


def test_demo_generates_builds_loads_and_shows(tmp_path, capsys):
    assert cli.main(["demo", "--output-dir", str(tmp_path / "demo"), "--skip-real"]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "demo" / "erc-synth"
    (run,) = sorted((tmp_path / "demo" / "runs").iterdir())
    accepted, attempts = read_manifest(run).counts.accepted, read_manifest(run).counts.attempts
    ds = load_dataset(str(folder), "meld_balanced", cache_dir=str(tmp_path / "cache"))
    # Exactly the dialogues asked for, and the figures that say what they are worth.
    assert sum(ds.num_rows.values()) == accepted == DEMO_GENERATION["num_dialogues"]
    assert "== Quality beside stored figures of the real MELD (erc-synth quality) ==" in out
    assert all(title in out for title in QUALITY_HEADLINE.values()) and MODEL_NOTE in out
    assert "#### Quality" in (folder / "README.md").read_text()
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
