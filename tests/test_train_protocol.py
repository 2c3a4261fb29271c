"""The training protocol end to end: stage 1 on synthetic data, stage 2 on real data, every test split scored."""

from __future__ import annotations

import json

import pytest
import torch
from run_fixtures import write_synthetic_dataset

from erc_synth.cli import main as cli_main
from erc_synth.commands.train import main as train_main
from trainers.testing import make_tiny_encoder

FAST = [
    "--max_length", "48", "--num_train_epochs", "1", "--pretrain_num_train_epochs", "1",
    "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "128", "--learning_rate", "1e-3",
    "--disable_tqdm", "true", "--dataloader_pin_memory", "false", "--logging_steps", "1",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> str:
    """A randomly initialised 2-layer BERT with MiniLM's tokenizer (fast; not a quality model)."""
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> str:
    """A synthetic dataset folder (invented dialogues) with meld_natural and meld_balanced configs."""
    return str(write_synthetic_dataset(tmp_path_factory.mktemp("synthetic") / "erc-synth"))


def _utterances(folder: str, config: str, split: str) -> int:
    from datasets import load_dataset

    return sum(len(e) for e in load_dataset(folder, config, split=split)["emotions"])


@pytest.mark.slow
def test_pretrain_then_finetune_on_real_meld_writes_complete_results(tiny_encoder, synthetic, shared_data, tmp_path):
    out = tmp_path / "run"
    argv = [
        "train", "--architecture", "context", "--model_name_or_path", tiny_encoder,
        "--data_dir", str(shared_data / "meld"), "--synthetic_dataset", synthetic,
        "--pretrain_config", "meld_balanced", "--test_configs", "meld_natural", "meld_balanced",
        "--max_train_dialogues", "6", "--max_eval_dialogues", "3", "--output_dir", str(out), "--seed", "7",
        "--num_threads", "1", *FAST,
    ]  # fmt: skip
    assert cli_main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "complete" and results["variant"] == "balanced" and results["seed"] == 7
    assert results["threads"]["num_threads"] == 1 and results["threads"]["source"] == "--num-threads"
    assert results["model"] == tiny_encoder and results["architecture"] == "context"
    assert [s["name"] for s in results["stages"]] == ["pretrain", "finetune"]
    assert results["stages"][0]["train_split"] == "meld_balanced/train"
    assert results["stages"][1]["train_split"] == "real/train"
    assert all(stage["global_step"] > 0 and stage["best_metric"] is not None for stage in results["stages"])
    assert set(results["test"]) == {"meld_real", "meld_natural", "meld_balanced"}
    # Every utterance of every test split is scored: the published MELD test size, and the synthetic split sizes.
    real = results["test"]["meld_real"]
    assert real["num_utterances"] == 2610 == sum(map(sum, real["confusion_matrix"]))
    assert results["data"]["real"]["num_utterances"]["test"] == 2610
    for config in ("meld_natural", "meld_balanced"):
        assert results["test"][config]["num_utterances"] == _utterances(synthetic, config, "test")
        assert results["data"]["synthetic"][config]["fingerprints"]["test"]
    for scores in results["test"].values():
        assert 0.0 <= scores["weighted_f1"] <= 1.0 and set(scores["per_class_f1"]) == set(results["labels"])
        assert scores["labels"] == ["neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"]
    assert results["settings"]["training"]["seed"] == 7 and results["settings"]["data"]["pretrain_config"]
    assert results["versions"]["transformers"]
    assert (out / "model" / "model.safetensors").is_file() and (out / "model" / "config.json").is_file()
    assert not list(out.glob("*/checkpoint-*"))  # stage checkpoints are removed once selected


@pytest.mark.slow
def test_emoone_trains_a_teacher_then_the_student(tiny_encoder, benchmark_fixtures, tmp_path):
    out = tmp_path / "emoone"
    argv = [
        "--architecture", "emoone", "--model_name_or_path", tiny_encoder,
        "--data_dir", str(benchmark_fixtures / "meld"), "--output_dir", str(out), "--grayscale", "teacher_post", *FAST,
    ]  # fmt: skip
    assert train_main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["variant"] == "org" and [s["name"] for s in results["stages"]] == ["finetune"]
    assert results["stages"][0]["teacher"] is True
    assert (out / "finetune" / "teacher").is_dir()
    assert results["test"]["meld_real"]["num_utterances"] == 5  # the fixture's test split


@pytest.mark.slow
def test_lora_run_trains_only_adapter_weights(tiny_encoder, benchmark_fixtures, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModel

    out = tmp_path / "lora"
    argv = [
        "--architecture", "context", "--model_name_or_path", tiny_encoder, "--use_lora", "true",
        "--lora_r", "4", "--lora_target_modules", "query", "value",
        "--data_dir", str(benchmark_fixtures / "meld"), "--output_dir", str(out), *FAST,
    ]  # fmt: skip
    assert train_main(argv) == 0
    saved = load_file(str(out / "model" / "model.safetensors"))
    base = AutoModel.from_pretrained(tiny_encoder).state_dict()
    lora_b = [name for name in saved if "lora_B" in name]
    assert lora_b and any(torch.count_nonzero(saved[name]) > 0 for name in lora_b)  # adapters moved from zero
    frozen = {name: tensor for name, tensor in saved.items() if "lora_" not in name and name.startswith("encoder.")}
    assert frozen
    for name, tensor in frozen.items():
        key = name.removeprefix("encoder.base_model.model.").replace(".base_layer.", ".")
        assert torch.equal(tensor, base[key]), f"{name} changed although only adapters should train"


def test_refuses_a_synthetic_dataset_with_other_labels(tiny_encoder, benchmark_fixtures, tmp_path, capsys):
    folder = write_synthetic_dataset(tmp_path / "other", labels=["calm", "happy", "sad", "x", "y", "z", "w"])
    argv = [
        "--model_name_or_path", tiny_encoder, "--data_dir", str(benchmark_fixtures / "meld"),
        "--synthetic_dataset", str(folder), "--pretrain_config", "meld_natural", "--output_dir", str(tmp_path / "o"),
    ]  # fmt: skip
    assert train_main(argv) == 1
    assert "must share the benchmark's label names" in capsys.readouterr().err
    assert not (tmp_path / "o" / "results.json").exists()
