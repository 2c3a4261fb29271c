"""The experiment runner: a matrix of real training runs, resumable after a kill, and its scores tables."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from run_fixtures import write_synthetic_dataset

from erc_synth.commands.experiment import main
from trainers.errors import TrainingConfigError
from trainers.experiment import ExperimentConfig, plan_runs
from trainers.testing import make_tiny_encoder

REPO = Path(__file__).resolve().parents[1]


def test_plan_names_runs_and_variants(tmp_path):
    config = ExperimentConfig(
        architectures=["compm", "emoone"], benchmarks=["meld", "iemocap"], seeds=[1, 2], synthetic_dataset="x",
        output_dir=str(tmp_path),
    )  # fmt: skip
    runs = plan_runs(config)
    assert len(runs) == 2 * 3 * 2 * 2
    assert {run.variant_name for run in runs} == {f"{a}_{v}" for a in ("compm", "emoone") for v in config.variants}
    assert runs[0].output_dir == tmp_path / "runs" / "meld" / "compm_org" / "seed-1"
    with pytest.raises(TrainingConfigError, match="synthetic_dataset"):
        ExperimentConfig(variants=["org", "natural"])


def test_paper_and_smoke_configs_are_valid():
    from erc_synth_datasets.configuration import config_from_dict, load_config_yaml

    paper = config_from_dict(
        ExperimentConfig, load_config_yaml(REPO / "configs/experiments/paper.yaml", ExperimentConfig)
    )
    assert len(plan_runs(paper)) == 3 * 3 * 3 * len(paper.seeds)
    assert len({t for b in paper.benchmarks for t in (f"{b}_real", *(f"{b}_{m}" for m in paper.test_modes))}) == 9
    smoke = load_config_yaml(REPO / "configs/experiments/smoke.yaml", ExperimentConfig)
    assert config_from_dict(ExperimentConfig, smoke).benchmarks == ["meld"]


@pytest.mark.slow
def test_killed_experiment_resumes_and_skips_finished_runs(tmp_path, benchmark_fixtures):
    encoder = make_tiny_encoder(tmp_path / "encoder")
    synthetic = write_synthetic_dataset(
        tmp_path / "synthetic", modes=("natural",), dialogues={"train": 4, "validation": 2, "test": 3}
    )
    out = tmp_path / "experiment"
    config = {
        "name": "resume",
        "output_dir": str(out),
        "architectures": ["context"],
        "variants": ["org"],
        "benchmarks": ["meld"],
        "seeds": [1, 2],
        "data_dirs": {"meld": str(benchmark_fixtures / "meld")},
        "synthetic_dataset": str(synthetic),
        "test_modes": ["natural"],
        "train_overrides": {
            "model_name_or_path": encoder, "max_length": 48, "num_train_epochs": 1, "per_device_train_batch_size": 8,
            "disable_tqdm": True, "dataloader_pin_memory": False, "save_final_model": False,
        },
    }  # fmt: skip
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    runner = subprocess.Popen(
        [sys.executable, "-m", "erc_synth.commands.experiment", str(path)],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    first = out / "runs" / "meld" / "context_org" / "seed-1" / "results.json"
    deadline = time.time() + 400
    while not first.exists() and time.time() < deadline and runner.poll() is None:
        time.sleep(0.5)
    assert first.exists(), runner.communicate()[0][-3000:] if runner.poll() is not None else "first run not done"
    os.killpg(runner.pid, signal.SIGKILL)  # the runner and the training process it started
    runner.wait()
    finished_at = first.stat().st_mtime_ns
    assert not (out / "runs" / "meld" / "context_org" / "seed-2" / "results.json").exists()

    assert main([str(path)]) == 0
    assert first.stat().st_mtime_ns == finished_at  # not run again
    log = (out / "runs" / "meld" / "context_org" / "seed-1" / "train.log").read_text()
    assert log.count("=== ") == 1
    with open(out / "table_per_seed.csv", newline="") as handle:
        long_rows = list(csv.DictReader(handle))
    systems = [r for r in long_rows if r["variant"] == "context_org"]
    assert [(r["test_set"], r["variant"], r["seed"]) for r in systems] == [
        ("meld_real", "context_org", "1"), ("meld_natural", "context_org", "1"),
        ("meld_real", "context_org", "2"), ("meld_natural", "context_org", "2"),
    ]  # fmt: skip
    # The floor of every test set and seed, fitted in every run on the same train split, in the same tables.
    floors = [(r["test_set"], r["variant"], r["seed"]) for r in long_rows if r["variant"] != "context_org"]
    assert sorted(floors) == sorted(
        (t, b, s) for t in ("meld_real", "meld_natural") for b in ("majority", "tfidf_lr") for s in ("1", "2")
    )
    with open(out / "table.csv", newline="") as handle:
        wide = list(csv.DictReader(handle))
    assert [row["test_set"] for row in wide] == ["meld_real", "meld_natural"]
    assert list(wide[0]) == ["test_set", "context_org", "majority", "tfidf_lr"]
    for row in wide:
        for column in ("context_org", "majority", "tfidf_lr"):
            seeds = [
                float(r["score"]) for r in long_rows if r["test_set"] == row["test_set"] and r["variant"] == column
            ]
            assert float(row[column]) == pytest.approx(sum(seeds) / 2, abs=1e-3)
            assert 0.0 <= float(row[column]) <= 100.0
    results = json.loads(first.read_text())
    expected = 100.0 * results["baselines"]["meld_real"]["majority"]["weighted_f1"]
    assert float(wide[0]["majority"]) == pytest.approx(expected, abs=1e-3)
