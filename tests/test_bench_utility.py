"""benchmarks/bench_utility.py end to end on a tiny budget: real runs (the real runner with the scripted test
backend), the real build, real training processes on a tiny encoder, every real MELD test utterance scored, and the
exact Friedman report with the baselines as the floor."""

from __future__ import annotations

import importlib.util
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


@pytest.mark.slow
@pytest.mark.real_data
def test_org_nat_bal_with_exact_pvalues_and_the_floor(tmp_path, shared_data, capsys):
    runs = {mode: write_run(tmp_path / mode, mode=mode, num_dialogues=12) for mode in ("natural", "balanced")}
    encoder = make_tiny_encoder(tmp_path / "encoder")
    train_config = tmp_path / "train.yaml"
    train_config.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": str(encoder),
                "max_length": 32,
                "num_train_epochs": 1,
                "per_device_train_batch_size": 16,
                "per_device_eval_batch_size": 256,
                "use_cpu": True,
            }
        )
    )
    argv = ["--data-dir", str(shared_data / "meld"), "--work", str(tmp_path / "work"), "--seeds", "1", "2"]
    argv += ["--run", f"natural={runs['natural']}", "--run", f"balanced={runs['balanced']}"]
    argv += ["--train-config", str(train_config), "--max-train-dialogues", "4"]
    assert _bench().main(argv) == 0
    out = capsys.readouterr().out
    table = (tmp_path / "work" / "experiment" / "table.csv").read_text().splitlines()
    assert table[0] == "test_set,context_org,context_natural,context_balanced,majority,tfidf_lr"
    assert [line.split(",")[0] for line in table[1:]] == ["meld_real", "meld_natural", "meld_balanced"]
    # Ranked over 3 test sets x 2 seeds; Nat and Bal each compared with Org; the floor shown, not ranked.
    assert "k = 3 systems, n = 6 blocks" in out
    assert "| context_natural | context_org |" in out and "| context_balanced | context_org |" in out
    assert "majority (floor)" in out and "tfidf_lr (floor)" in out
    results = tmp_path / "work" / "experiment" / "runs" / "meld" / "context_org" / "seed-1" / "results.json"
    import json

    assert json.loads(results.read_text())["test"]["meld_real"]["num_utterances"] == 2610
