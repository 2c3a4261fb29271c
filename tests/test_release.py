"""`erc-synth release` end to end with the real runner, build, quality reports, card and dry-run push (the Hub's
servers are never contacted: the push is planned only): a second call redoes nothing, a changed setting redoes
only the stages that read it, and a release killed with SIGKILL in the middle of a stage continues it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from release_fixtures import run_scripted_release, write_release_file

from erc_synth.release import ReleaseConfig
from erc_synth_datasets.configuration import ConfigError

CONFIGS = ["emorynlp_balanced", "emorynlp_natural", "meld_balanced", "meld_natural"]


def _edit(path: Path, **changes) -> None:
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(autouse=True)
def _no_real_data(monkeypatch):
    # Quality beside the stored real figures: the resume logic is under test here, not the real-data report.
    monkeypatch.delenv("ERC_SYNTH_DATA_DIR", raising=False)


def test_a_release_builds_every_config_and_reuses_what_did_not_change(tmp_path, capsys):
    from datasets import load_dataset

    path = write_release_file(tmp_path)
    result = run_scripted_release(path)
    out = capsys.readouterr().out
    stages = [stage.key for stage in result.stages]
    assert stages == [
        *(f"generate/{n}" for n in ["meld_natural", "meld_balanced", "emorynlp_natural", "emorynlp_balanced"]),
        *(f"quality/{n}" for n in ["meld_natural", "meld_balanced", "emorynlp_natural", "emorynlp_balanced"]),
        "build",
        "push",
    ]
    assert result.ran() == stages
    assert "[10/10] push: done" in out and "Dry run" not in out
    assert "meld_natural/train-00000-of-00001.parquet" in out  # the push plan lists every file
    for name in CONFIGS:
        dataset = load_dataset(str(result.dataset), name)
        assert sum(dataset.num_rows.values()) == 6
    card = (result.dataset / "README.md").read_text()
    assert card.count("#### Quality") == 4
    summary = json.loads((result.dataset / "release.json").read_text())
    assert sorted(summary["configs"]) == CONFIGS
    meld = summary["configs"]["meld_natural"]
    assert meld["generator"][0]["model"] == "scripted-test-backend"
    assert meld["generator"][0]["counts"]["accepted"] == 6
    assert meld["quality"]["real"] == "stored"
    assert meld["quality"]["figures"]["realism.label_jsd"]["synthetic"] > 0
    assert meld["quality"]["figures"]["degeneracy.repeated_utterances"]["real"] > 0
    assert meld["utility"] is None and summary["tag"] == "v0.1.0"

    # Unchanged: nothing is redone.
    assert run_scripted_release(path).ran() == []
    # One config's count: its run and report, the build and the push; nothing else.
    _edit(path, counts={"emorynlp_natural": 8})
    again = run_scripted_release(path)
    assert again.ran() == ["generate/emorynlp_natural", "quality/emorynlp_natural", "build", "push"]
    assert sum(load_dataset(str(result.dataset), "emorynlp_natural").num_rows.values()) == 8
    assert sum(load_dataset(str(result.dataset), "meld_natural").num_rows.values()) == 6
    # The version tag: the push only.
    _edit(path, tag="v0.2.0")
    assert run_scripted_release(path).ran() == ["push"]
    # A split setting: the build and the push; every run and report is reused.
    _edit(path, build={"split_ratios": "0.5,0.5,0"})
    assert run_scripted_release(path).ran() == ["build", "push"]
    state = json.loads((result.output / "state.json").read_text())
    assert sorted(state["finished"]) == sorted(stages)


def test_a_release_killed_inside_a_stage_continues_it(tmp_path):
    path = write_release_file(tmp_path, benchmarks=["meld"], num_dialogues=8)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), *sys.path])}
    script = Path(__file__).resolve().parent / "release_fixtures.py"
    process = subprocess.Popen([sys.executable, str(script), str(path), "0.3"], env=env)
    runs = tmp_path / "release" / "runs"

    def accepted(config: str) -> list[str]:
        files = runs.glob(f"{config}-*/accepted*.jsonl")
        return [json.loads(line)["dialogue_id"] for p in files for line in p.read_text().splitlines() if line]

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(accepted("meld_balanced")) < 3:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)  # inside the second config's generation
    process.wait()
    before = accepted("meld_balanced")
    assert 3 <= len(before) < 8 and len(accepted("meld_natural")) == 8
    state = json.loads((tmp_path / "release" / "state.json").read_text())
    assert sorted(state["finished"]) == ["generate/meld_natural"]

    result = run_scripted_release(path)
    # The finished stage is reused; the killed one continues its run (what it had is kept, nothing made twice).
    assert result.ran() == ["generate/meld_balanced", "quality/meld_natural", "quality/meld_balanced", "build", "push"]
    after = accepted("meld_balanced")
    assert after[: len(before)] == before and len(after) == len(set(after)) == 8


def test_a_wrong_release_file_is_refused_naming_the_key(tmp_path):
    path = write_release_file(tmp_path, counts={"meld_persona": 3})
    with pytest.raises(ConfigError, match="counts names configs \\['meld_persona'\\]"):
        run_scripted_release(path)
    with pytest.raises(ConfigError, match="generation may not set \\['seed'\\]"):
        ReleaseConfig(generation={"seed": 3})
    with pytest.raises(ConfigError, match="unknown keys \\['temprature'\\]"):
        ReleaseConfig(generation={"temprature": 0.5})


@pytest.mark.slow
@pytest.mark.real_data
def test_a_release_measures_utility_and_the_card_shows_it(tmp_path, shared_data):
    from datasets import load_dataset

    from trainers.testing import make_tiny_encoder

    encoder = make_tiny_encoder(tmp_path / "encoder")
    train_config = tmp_path / "train.yaml"
    train = {"model_name_or_path": str(encoder), "max_length": 32, "per_device_train_batch_size": 16}
    train |= {"per_device_eval_batch_size": 256, "learning_rate": 1e-3, "use_cpu": True, "max_eval_dialogues": 10}
    train_config.write_text(yaml.safe_dump(train))
    utility = {"train_config": str(train_config), "seeds": [1, 2], "max_train_dialogues": 4, "max_epochs": 1}
    utility |= {"patience": 1, "variants": ["org", "natural"], "curve": [100]}
    path = write_release_file(
        tmp_path,
        benchmarks=["meld"],
        modes=["natural"],
        num_dialogues=8,
        data_dirs={"meld": str(shared_data / "meld")},
        utility=utility,
    )
    result = run_scripted_release(path)
    assert result.ran() == ["generate/meld_natural", "quality/meld_natural", "build", "utility/meld", "push"]
    card = (result.dataset / "README.md").read_text()
    section = card.split("<!-- erc-synth:config meld_natural start -->")[1].split("end -->")[0]
    assert "#### Quality" in section and "#### Utility" in section
    assert "| context_natural | context_org |" in section  # the exact p-value of Nat against Org
    assert "majority (floor)" in section
    summary = json.loads((result.dataset / "release.json").read_text())["configs"]
    assert summary["meld_natural"]["quality"]["real"] == "data"
    figures = summary["meld_natural"]["utility"]
    assert set(figures["variants"]) == {"context_org", "context_natural"}
    (comparison,) = [c for c in figures["comparisons"] if {c["a"], c["b"]} == {"context_natural", "context_org"}]
    assert 0 < comparison["p_exact"] <= 1
    # The teacher's relabelled config sits beside the built one, with its label source in the card and the JSON.
    assert summary["meld_natural_teacher"]["label_source"]["source"] == "teacher"
    for name in ("meld_natural", "meld_natural_teacher"):
        assert sum(load_dataset(str(result.dataset), name).num_rows.values()) == 8
    # Another version tag: the push only, every training run reused.
    _edit(path, tag="v0.2.0")
    assert run_scripted_release(path).ran() == ["push"]


@pytest.mark.slow
def test_a_release_with_the_default_model(tmp_path, capsys):
    """The real default model (SmolLM2-135M-Instruct, packaged) through the command: three dialogues, one config."""
    from datasets import load_dataset

    from erc_synth import cli

    generation = {"max_new_tokens": 144, "max_turns": 3, "max_utterance_chars": 40, "max_attempts": 6}
    path = write_release_file(tmp_path, benchmarks=["meld"], modes=["natural"], num_dialogues=3)
    _edit(path, generation={**generation, "batch_size": 3}, build={"split_ratios": "0.34,0.33,0.33"})
    assert cli.main(["release", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "[4/4] push: done" in out and "4 stage(s) run, 0 reused" in out
    folder = tmp_path / "release" / "dataset"
    assert sum(load_dataset(str(folder), "meld_natural").num_rows.values()) == 3
    generator = json.loads((folder / "release.json").read_text())["configs"]["meld_natural"]["generator"]
    assert generator[0]["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    # A second call reuses every stage.
    assert cli.main(["release", str(path), "--dry-run"]) == 0
    assert "0 stage(s) run, 4 reused" in capsys.readouterr().out


@pytest.mark.slow
def test_a_sharded_release_runs_its_shards_side_by_side_and_merges_them(tmp_path, capsys):
    """`shards: 2`: two real `erc-synth generate` processes with the default model, merged into the config's run,
    each dialogue the one a single process writes for the same prompt and attempt."""
    from datasets import load_dataset

    from erc_synth import cli
    from erc_synth_datasets.runs import iter_accepted, read_manifest

    generation = {"max_new_tokens": 144, "max_turns": 3, "max_utterance_chars": 40, "max_attempts": 6}
    path = write_release_file(tmp_path, benchmarks=["meld"], modes=["natural"], num_dialogues=4)
    _edit(path, generation={**generation, "batch_size": 1, "num_threads": 1}, shards=2)
    _edit(path, build={"split_ratios": "0.5,0.25,0.25"})
    assert cli.main(["release", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "shard 0/2: exit status 0" in out and "shard 1/2: exit status 0" in out
    assert "2 shards merged, 4 accepted" in out
    runs = tmp_path / "release" / "runs"
    (merged,) = runs.glob("meld_natural-*-merged")
    assert read_manifest(merged).counts.accepted == 4
    shard_indices = [
        {record.index for record in iter_accepted(shard)}
        for shard in sorted(runs.glob("*-shards/shard-*"))
        if shard.is_dir()
    ]
    assert (
        len(shard_indices) == 2 and all(i % 2 == 0 for i in shard_indices[0]) and all(i % 2 for i in shard_indices[1])
    )
    folder = tmp_path / "release" / "dataset"
    assert sum(load_dataset(str(folder), "meld_natural").num_rows.values()) == 4
    # One request at a time (batch size 1), a shard computes what one process computes for the same prompt and
    # attempt.
    single = tmp_path / "single"
    settings = next(runs.glob("*-shards")) / "generation.yaml"
    assert cli.main(["generate", "--config", str(settings), "--output-dir", str(single)]) in (0, 1)
    alone = {(record.index, record.attempt): record.utterances for record in iter_accepted(single)}
    shared = [record for record in iter_accepted(merged) if (record.index, record.attempt) in alone]
    assert shared and all(alone[(record.index, record.attempt)] == record.utterances for record in shared)
    # A second call reuses every stage; a wrong device list is refused before anything runs.
    assert cli.main(["release", str(path), "--dry-run"]) == 0
    assert "0 stage(s) run, 4 reused" in capsys.readouterr().out
    _edit(path, shard_devices=["cpu"])
    with pytest.raises(ConfigError, match="shard_devices lists 1 devices for 2 shards"):
        ReleaseConfig(**yaml.safe_load(path.read_text()))
