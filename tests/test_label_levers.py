"""The levers between a noisy generator and the trainer: teacher labels, cleanlab curation, soft targets, the joint
protocol, the converged protocol and the steps-matched Org, on real saved classifiers, real builds and real runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from run_fixtures import write_synthetic_dataset

from erc_synth_datasets import get_benchmark
from erc_synth_datasets.curation import CurationOptions, curate_config
from erc_synth_datasets.derived import DerivedLabels, read_config_rows, write_derived_config
from erc_synth_datasets.vocabulary import SPLITS
from trainers.config import ModelArguments
from trainers.models import build_model
from trainers.testing import make_tiny_encoder, minilm_path
from trainers.train import main as train_main

MELD = get_benchmark("meld")
FAST = [
    "--max_length", "48", "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "128",
    "--learning_rate", "1e-3", "--disable_tqdm", "true", "--dataloader_pin_memory", "false", "--report_to", "none",
    "--max_eval_utterances", "60",
]  # fmt: skip


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> str:
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder")


@pytest.fixture()
def synthetic(tmp_path) -> Path:
    return write_synthetic_dataset(tmp_path / "erc-synth", modes=("natural",))


def _peaked(label: int, n: int = 7, top: float = 0.9) -> list[float]:
    rest = (1.0 - top) / (n - 1)
    return [top if i == label else rest for i in range(n)]


def _teacher_config(folder: Path, flip_every: int = 5) -> tuple[str, set[tuple[str, int, int]]]:
    """`meld_natural_teacher` whose probabilities back the generator's labels except on every `flip_every`-th
    utterance, where they back another label: those are the generator's label errors cleanlab should find."""
    source = read_config_rows(folder, "meld_natural")
    labels, flipped, k = {}, set(), 0
    for split in SPLITS:
        out = DerivedLabels(emotions=[], probs=[], weights=[])
        for d, row in enumerate(source.splits[split]):
            names, probs = [], []
            for t, label in enumerate(row["emotions"]):
                true = MELD.labels.index(label)
                if k % flip_every == 0:
                    true = (true + 3) % len(MELD.labels)
                    flipped.add((split, d, t))
                k += 1
                names.append(MELD.labels[true])
                probs.append(_peaked(true))
            out.emotions.append(names)
            out.probs.append(probs)
            out.weights.append([1.0] * len(names))
        labels[split] = out
    built = write_derived_config(source, "meld_natural_teacher", labels, label_source={"source": "teacher"})
    return built.name, flipped


def test_the_soft_target_loss_is_cross_entropy_for_one_hot_targets(encoder):
    torch.manual_seed(0)
    model = build_model(ModelArguments(model_name_or_path=encoder, max_length=32), len(MELD.labels))
    logits = torch.randn(6, len(MELD.labels))
    labels = torch.tensor([0, 3, 6, 1, 1, 4])
    one_hot = torch.nn.functional.one_hot(labels, len(MELD.labels)).float()
    expected = torch.nn.functional.cross_entropy(logits, labels)
    torch.testing.assert_close(model.loss(logits, labels, one_hot), expected)
    torch.testing.assert_close(model.loss(logits, labels), expected)
    # Soft targets: the expected cross-entropy under the target distribution; weights scale each row's term.
    soft = torch.softmax(torch.randn(6, len(MELD.labels)), dim=-1)
    manual = -(soft * torch.log_softmax(logits, dim=-1)).sum(dim=-1)
    torch.testing.assert_close(model.loss(logits, labels, soft), manual.mean())
    weights = torch.tensor([1.0, 0.5, 0.5, 1.0, 0.0, 2.0])
    torch.testing.assert_close(model.loss(logits, labels, soft, weights), (manual * weights).mean())


def test_a_derived_config_round_trips_through_the_build_and_load_dataset(synthetic):
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    name, flipped = _teacher_config(synthetic)
    original = load_dataset(str(synthetic), "meld_natural")
    derived = load_dataset(str(synthetic), name)
    assert set(derived["train"].column_names) >= {"generator_emotions", "label_probs", "label_weights", "label_source"}
    for split in SPLITS:
        assert derived[split]["generator_emotions"] == original[split]["emotions"]  # never overwritten
        assert derived[split]["utterances"] == original[split]["utterances"]
        for emotions, probs in zip(derived[split]["emotions"], derived[split]["label_probs"], strict=True):
            assert [int(np.argmax(p)) for p in probs] == emotions
            assert all(abs(sum(p) - 1.0) < 1e-5 for p in probs)
    card = DatasetCard.load(synthetic / "README.md")
    assert {c["config_name"] for c in card.data.configs} == {"meld_natural", "meld_natural_teacher"}
    assert "with labels from **teacher**" in card.text
    # The source config's files are untouched.
    info = json.loads((synthetic / "meld_natural" / "build_info.json").read_text())
    assert info["label_source"] is None and len(flipped) > 5


def test_cleanlab_finds_the_labels_flipped_on_purpose(synthetic):
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    name, flipped = _teacher_config(synthetic)
    built = curate_config(CurationOptions(dataset=str(synthetic), dataset_config=name, policy="clean"))
    assert built.name == "meld_natural_clean"
    curated = load_dataset(str(synthetic), "meld_natural_clean")
    dropped = {
        (split, d, t)
        for split in SPLITS
        for d, weights in enumerate(curated[split]["label_weights"])
        for t, weight in enumerate(weights)
        if weight == 0.0
    }
    assert dropped == flipped
    # The generator's labels are kept (one-hot targets); the counts per label before and after are recorded.
    assert curated["train"]["emotions"] == load_dataset(str(synthetic), "meld_natural", split="train")["emotions"]
    record = built.curation
    assert record["scored_utterances"] - record["kept_utterances"] == len(flipped)
    assert sum(map(sum, record["label_counts_before"].values())) == record["scored_utterances"]
    assert sum(map(sum, record["label_counts_after"].values())) == record["kept_utterances"]
    card = DatasetCard.load(synthetic / "README.md").text
    assert "**Curation** (`clean`" in card and " → " in card


def test_top_q_keeps_exactly_that_share_of_the_teachers_most_confident_labels(synthetic):
    name, _ = _teacher_config(synthetic)
    built = curate_config(
        CurationOptions(dataset=str(synthetic), dataset_config=name, policy="top50", labels="source")
    )
    assert built.name == "meld_natural_teacher_top50"
    counts = built.num_utterances
    kept = built.curation["kept_utterances"]
    assert kept == sum(int(np.ceil(counts[split] * 0.5)) for split in SPLITS)
    with pytest.raises(Exception, match="nothing is ever flagged"):
        CurationOptions(dataset=str(synthetic), dataset_config=name, policy="clean", labels="source")
    with pytest.raises(Exception, match="relabel it with a teacher first"):
        curate_config(CurationOptions(dataset=str(synthetic), dataset_config="meld_natural"))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "erc_synth.cli", *args], capture_output=True, text=True, check=False)


@pytest.mark.slow
@pytest.mark.real_data
def test_a_minilm_teacher_trained_on_real_meld_relabels_a_synthetic_config(shared_data, tmp_path):
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    run = tmp_path / "teacher"
    argv = [
        "--architecture", "context", "--model_name_or_path", minilm_path(), "--data_dir", str(shared_data / "meld"),
        "--max_train_dialogues", "12", "--max_eval_dialogues", "4", "--num_train_epochs", "1",
        "--output_dir", str(run), *FAST, "--max_length", "32",
    ]  # fmt: skip
    assert train_main(argv) == 0
    synthetic = write_synthetic_dataset(tmp_path / "erc-synth", modes=("natural",))
    done = _cli("relabel", str(synthetic), "--dataset-config", "meld_natural", "--teacher", str(run / "model"))
    assert done.returncode == 0, done.stderr
    relabelled = load_dataset(str(synthetic), "meld_natural_teacher")
    teacher = json.loads((synthetic / "meld_natural_teacher" / "build_info.json").read_text())["label_source"]
    assert teacher["source"] == "teacher" and teacher["teacher"]["real_train_dialogues"] == 12
    assert teacher["teacher"]["architecture"] == "context" and len(teacher["teacher"]["weights_sha256"]) == 64
    results = json.loads((run / "results.json").read_text())
    assert teacher["teacher"]["real_test_weighted_f1"] == pytest.approx(
        100 * results["test"]["meld_real"]["weighted_f1"]
    )
    assert len(relabelled["train"]["label_probs"][0][0]) == len(MELD.labels)
    assert "weighted F1" in DatasetCard.load(synthetic / "README.md").text

    # A teacher whose head predicts another benchmark's labels is refused in one line, before any model loads.
    emory = write_synthetic_dataset(tmp_path / "emory", "emorynlp", modes=("natural",))
    refused = _cli("relabel", str(emory), "--dataset-config", "emorynlp_natural", "--teacher", str(run / "model"))
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "The classifier's head predicts ['neutral', 'surprise'" in refused.stderr
    assert not (emory / "emorynlp_natural_teacher").exists()


@pytest.mark.slow
def test_the_joint_protocol_trains_real_and_soft_synthetic_rows_in_one_stage(
    encoder, synthetic, benchmark_fixtures, tmp_path
):
    name, _ = _teacher_config(synthetic)
    out = tmp_path / "joint"
    argv = [
        "--architecture", "context", "--model_name_or_path", encoder, "--data_dir", str(benchmark_fixtures / "meld"),
        "--synthetic_dataset", str(synthetic), "--joint_config", name, "--synthetic_weight", "0.5",
        "--num_train_epochs", "1", "--output_dir", str(out), *FAST,
    ]  # fmt: skip
    assert train_main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["variant"] == "joint-natural-teacher"
    (stage,) = results["stages"]
    real = results["data"]["real"]["num_utterances"]["train"]
    synthetic_rows = results["data"]["synthetic"][name]["num_utterances"]["train"]
    assert stage["name"] == "joint" and stage["train_utterances"] == real + synthetic_rows
    assert stage["soft_targets"] and "weight 0.5" in stage["train_split"]
    assert 0.0 <= results["test"]["meld_real"]["weighted_f1"] <= 1.0


@pytest.mark.slow
def test_the_converged_protocol_keeps_the_best_epoch_and_stops_early(
    encoder, benchmark_fixtures, tmp_path, monkeypatch
):
    """Training whose validation score peaks at the first epoch: a callback (standing in for over-fitting) sets the
    head to always predict `surprise` after epoch 1 (in the validation split: weighted F1 > 0) and `anger` after every
    later epoch (not in it: 0). The first epoch's checkpoint is kept and training stops after the patience."""
    from transformers import TrainerCallback

    import trainers.protocol as protocol

    class PeakAtTheFirstEpoch(TrainerCallback):
        def on_epoch_end(self, args, state, control, model=None, **kwargs):
            label = MELD.labels.index("surprise" if state.epoch < 1.5 else "anger")
            with torch.no_grad():
                model.classifier.weight.zero_()
                model.classifier.bias.fill_(0.0)
                model.classifier.bias[label] = 10.0

    make = protocol._make_trainer

    def make_and_wipe(*args, **kwargs):
        trainer = make(*args, **kwargs)
        trainer.add_callback(PeakAtTheFirstEpoch())
        return trainer

    monkeypatch.setattr(protocol, "_make_trainer", make_and_wipe)
    out = tmp_path / "converged"
    argv = [
        "--architecture", "context", "--model_name_or_path", encoder, "--data_dir", str(benchmark_fixtures / "meld"),
        "--num_train_epochs", "6", "--early_stopping_patience", "2", "--output_dir", str(out), *FAST,
    ]  # fmt: skip
    assert train_main(argv) == 0
    (stage,) = json.loads((out / "results.json").read_text())["stages"]
    scores = [e["weighted_f1"] for e in stage["validation_weighted_f1_by_epoch"]]
    assert stage["best_epoch"] == 1.0 and stage["epochs_run"] == 3.0 < 6  # two epochs without improvement
    assert scores[0] > max(scores[1:]) and stage["best_metric"] == scores[0]


@pytest.mark.slow
def test_the_steps_matched_org_takes_the_pretrained_variants_step_count(
    encoder, synthetic, benchmark_fixtures, tmp_path
):
    from trainers.experiment import ExperimentConfig, run_experiment

    config = ExperimentConfig(
        name="steps",
        output_dir=str(tmp_path / "experiment"),
        architectures=["context"],
        variants=["org-steps", "org", "natural"],  # org-steps runs last whatever the order given
        benchmarks=["meld"],
        seeds=[1],
        data_dirs={"meld": str(benchmark_fixtures / "meld")},
        synthetic_dataset=str(synthetic),
        test_modes=[],
        train_overrides={
            "model_name_or_path": encoder,
            "max_length": 48,
            "per_device_train_batch_size": 8,
            "learning_rate": 1e-3,
            "num_train_epochs": 1,
            "report_to": [],
            "disable_tqdm": True,
            "dataloader_pin_memory": False,
            "max_eval_utterances": 60,
        },  # fmt: skip
    )
    assert config.variants == ["org", "natural", "org-steps"]
    assert run_experiment(config) == 0
    runs = tmp_path / "experiment" / "runs" / "meld"
    read = lambda v: json.loads((runs / f"context_{v}" / "seed-1" / "results.json").read_text())  # noqa: E731
    natural, matched = read("natural"), read("org-steps")
    assert matched["variant"] == "org-steps"
    assert matched["stages"][0]["global_step"] == sum(stage["global_step"] for stage in natural["stages"])
    assert matched["stages"][0]["global_step"] > read("org")["stages"][0]["global_step"]
    table = (tmp_path / "experiment" / "table.csv").read_text().splitlines()[0]
    assert table == "test_set,context_org,context_natural,context_org-steps,majority,tfidf_lr"
