"""`accelerate launch` runs the training script, with real distributed data parallel on CPU (gloo).

With accelerate 1.x, `accelerate launch --cpu --num_processes 2` starts a single process (its simple launcher); two
CPU processes come from `--multi_gpu --num_processes 2` (torchrun), which the training arguments turn into gloo DDP
on a machine without a GPU.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from run_fixtures import write_synthetic_dataset

from trainers.testing import make_tiny_encoder

REPO = Path(__file__).resolve().parents[1]


def _launch(num_processes: int, out: Path, encoder: str, data_dir: Path, synthetic: Path) -> dict:
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or "accelerate"
    command = [
        accelerate, "launch", *(["--multi_gpu"] if num_processes > 1 else ["--cpu"]),
        "--num_processes", str(num_processes), "--num_machines", "1", "--main_process_port", "29533",
        "--mixed_precision", "no", "--dynamo_backend", "no", str(REPO / "trainers" / "train.py"),
        "--architecture", "compm", "--model_name_or_path", encoder, "--data_dir", str(data_dir),
        "--synthetic_dataset", str(synthetic), "--pretrain_config", "meld_natural",
        "--test_configs", "meld_natural", "meld_balanced", "--output_dir", str(out),
        "--max_length", "48", "--num_train_epochs", "1", "--per_device_train_batch_size", "4",
        "--per_device_eval_batch_size", "4", "--disable_tqdm", "true", "--dataloader_pin_memory", "false",
        "--save_final_model", "false",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


@pytest.mark.slow
def test_two_processes_evaluate_the_same_utterances_as_one(tmp_path, benchmark_fixtures):
    encoder = make_tiny_encoder(tmp_path / "encoder")
    # Odd split sizes, so that the distributed sampler has to pad the last batch (and the padding must be dropped).
    synthetic = write_synthetic_dataset(tmp_path / "synthetic", dialogues={"train": 6, "validation": 3, "test": 5})
    one = _launch(1, tmp_path / "one", encoder, benchmark_fixtures / "meld", synthetic)
    two = _launch(2, tmp_path / "two", encoder, benchmark_fixtures / "meld", synthetic)
    assert one["settings"]["world_size"] == 1 and two["settings"]["world_size"] == 2
    counts = {name: scores["num_utterances"] for name, scores in one["test"].items()}
    assert counts == {name: scores["num_utterances"] for name, scores in two["test"].items()}
    assert counts["meld_real"] == one["data"]["real"]["num_utterances"]["test"]
    for config in ("meld_natural", "meld_balanced"):
        assert counts[config] == one["data"]["synthetic"][config]["num_utterances"]["test"]
        assert sum(map(sum, two["test"][config]["confusion_matrix"])) == counts[config]
    assert [s["train_utterances"] for s in one["stages"]] == [s["train_utterances"] for s in two["stages"]]
