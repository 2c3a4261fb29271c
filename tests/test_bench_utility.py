"""benchmarks/bench_utility.py end to end on a tiny budget: real runs (the real runner with the scripted test
backend), the real build, real training processes on a tiny encoder, every real MELD test utterance scored, and the
exact Friedman report with the baselines as the floor."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml
from run_fixtures import write_run

from trainers.testing import make_tiny_encoder

REPO = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_utility", REPO / "benchmarks" / "bench_utility.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_utility"] = module
    spec.loader.exec_module(module)
    return module


def _tiny_train_config(tmp_path: Path) -> Path:
    """A training config for a tiny encoder on CPU (the utility benchmark's `--train-config`)."""
    train_config = tmp_path / "train.yaml"
    settings = {
        "model_name_or_path": str(make_tiny_encoder(tmp_path / "encoder")),
        "max_length": 32,
        "per_device_train_batch_size": 16,
        "per_device_eval_batch_size": 256,
        "learning_rate": 1e-3,
        "use_cpu": True,
        "max_eval_dialogues": 10,
    }
    train_config.write_text(yaml.safe_dump(settings))
    return train_config


@pytest.mark.slow
@pytest.mark.real_data
def test_every_lever_against_both_orgs_with_exact_pvalues_and_the_floor(tmp_path, shared_data, capsys):
    runs = {mode: write_run(tmp_path / mode, mode=mode, num_dialogues=12) for mode in ("natural",)}
    train_config = _tiny_train_config(tmp_path)
    argv = ["--data-dir", str(shared_data / "meld"), "--work", str(tmp_path / "work"), "--seeds", "1", "2"]
    argv += ["--run", f"natural={runs['natural']}", "--modes", "natural", "--curve", "50", "100"]
    argv += ["--train-config", str(train_config), "--max-train-dialogues", "4", "--max-epochs", "2", "--patience", "1"]
    assert _bench().main(argv) == 0
    out = capsys.readouterr().out
    table = (tmp_path / "work" / "utility" / "experiment" / "table.csv").read_text().splitlines()
    systems = ["org", "natural", "natural-teacher", "natural-clean", "joint-natural-teacher", "natural-teacher-top50"]
    assert table[0] == ",".join(["test_set", *(f"context_{s}" for s in [*systems, "org-steps"]), "majority,tfidf_lr"])
    assert [line.split(",")[0] for line in table[1:]] == ["meld_real"]
    # Ranked over 1 test set x 2 seeds; every variant compared with both Orgs; the floor shown, not ranked.
    assert "k = 7 systems, n = 2 blocks" in out
    assert (
        "| context_natural-teacher | context_org |" in out and "| context_natural-teacher | context_org-steps |" in out
    )
    assert "majority (floor)" in out and "tfidf_lr (floor)" in out
    report = json.loads((tmp_path / "work" / "utility" / "utility.json").read_text())
    assert report["stronger_org"] in ("context_org", "context_org-steps")
    assert [c["kept_percent"] for c in report["curve"]] == [50, 100]
    epochs = report["variants"]["context_natural"]["epochs"]["1"]
    assert [stage["stage"] for stage in epochs] == ["pretrain", "finetune"]
    assert all(stage["epochs_run"] <= 2 for stage in epochs)
    # The teacher saw the same real dialogues as Org, and its identity is in the relabelled config's record.
    info = json.loads((tmp_path / "work" / "erc-synth" / "meld_natural_teacher" / "build_info.json").read_text())
    assert info["label_source"]["teacher"]["real_train_dialogues"] == 4
    results = (
        tmp_path / "work" / "utility" / "experiment" / "runs" / "meld" / "context_org" / "seed-1" / "results.json"
    )
    assert json.loads(results.read_text())["test"]["meld_real"]["num_utterances"] == 2610
    # The teacher is Org's own seed-1 run (its model saved), not a second training of the same thing.
    assert (results.parent / "model").is_dir() and report["teacher"] == str(results.parent)
    assert not (tmp_path / "work" / "utility" / "teacher").exists()
    # Resumable: a second call reuses everything (no run, no relabel) and reports the same table.
    assert _bench().main(argv) == 0
    assert "skipped, already finished" in capsys.readouterr().out
    # --teacher-seed names the teacher when it is not the first seed (seeds can then run as separate processes):
    # with seed 2 listed first, the teacher is still seed 1's run, and nothing is trained again.
    assert argv[4:7] == ["--seeds", "1", "2"]
    reordered = [*argv[:4], "--seeds", "2", "1", "--teacher-seed", "1", *argv[7:]]
    assert _bench().main(reordered) == 0
    assert "running" not in capsys.readouterr().out
    assert json.loads((tmp_path / "work" / "utility" / "utility.json").read_text())["teacher"] == str(results.parent)


@pytest.mark.slow
@pytest.mark.real_data
def test_seeds_run_side_by_side_share_one_teacher_and_one_relabelling(tmp_path, shared_data):
    """Two real processes on one --work, one seed each: the second waits while the first trains the teacher and
    relabels, then trains only its own seed; the command with both seeds then reuses everything."""
    import os
    import subprocess
    import time

    from erc_synth_datasets.processes import OWNER_NAME

    run = write_run(tmp_path / "natural", mode="natural", num_dialogues=12)
    train_config = _tiny_train_config(tmp_path)
    work = tmp_path / "work"
    argv = ["--data-dir", str(shared_data / "meld"), "--work", str(work), "--run", f"natural={run}"]
    argv += ["--modes", "natural", "--variants", "org", "natural-teacher", "--curve", "100", "--teacher-seed", "1"]
    argv += ["--train-config", str(train_config), "--max-train-dialogues", "4", "--max-epochs", "1", "--patience", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(REPO / "benchmarks" / "bench_utility.py"), *argv, "--seeds"]
    start = lambda seed: subprocess.Popen(  # noqa: E731
        [*command, seed], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    first = start("1")
    teacher = work / "utility" / "experiment" / "runs" / "meld" / "context_org" / "seed-1"
    deadline = time.monotonic() + 600  # a bound for a busy machine, not a timing claim
    while not (teacher / OWNER_NAME).exists() and first.poll() is None:
        assert time.monotonic() < deadline, "the teacher's training never started"
        time.sleep(0.2)
    second = start("2")  # the teacher is being trained now: this one has to wait for it
    # The generator's labels need no teacher: a process training only them starts at once, beside the teacher.
    generator_only = [*command[:-1], "--seeds", "1"]
    generator_only[generator_only.index("--variants") + 1 : generator_only.index("--curve")] = ["natural"]
    third = subprocess.Popen(generator_only, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out_first, out_second = first.communicate(timeout=900)[0], second.communicate(timeout=900)[0]
    out_third = third.communicate(timeout=900)[0]
    assert first.returncode == 0, out_first[-3000:]
    assert second.returncode == 0, out_second[-3000:]
    assert third.returncode == 0, out_third[-3000:]
    assert "(preparing the teacher" not in out_third and "context_natural seed 1: running" in out_third
    assert f"waiting for process {first.pid} (preparing the teacher and the derived configs" in out_second
    assert (teacher / "train.log").read_text().count("=== ") == 1  # trained once, by the first process
    assert "context_natural-teacher seed 2: running" in out_second and "seed 1: running" not in out_second
    relabelled = json.loads((work / "erc-synth" / "meld_natural_teacher" / "build_info.json").read_text())
    assert relabelled["label_source"]["teacher"]["seed"] == 1

    assert _bench().main([*argv, "--seeds", "1", "2"]) == 0  # the whole table: every run reused
    rows = (work / "utility" / "experiment" / "table_per_seed.csv").read_text().splitlines()[1:]
    systems = {tuple(row.split(",")[1:3]) for row in rows if row.split(",")[1].startswith("context_")}
    assert systems == {(f"context_{v}", s) for v in ("org", "natural-teacher") for s in ("1", "2")}
    generator_run = work / "utility" / "experiment" / "runs" / "meld" / "context_natural" / "seed-1"
    assert (generator_run / "results.json").is_file()
