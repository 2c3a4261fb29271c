"""A trained classifier as a self-describing folder (weights, config, tokenizer, model card) and `erc-synth predict`
over a JSONL file of dialogues and over a built dataset split."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from run_fixtures import write_synthetic_dataset

from erc_synth.cli import main as cli_main
from erc_synth.commands.train import main as train_main
from erc_synth_datasets import get_benchmark, load_benchmark
from trainers.metrics import compute_scores
from trainers.testing import make_tiny_encoder

MELD = get_benchmark("meld")
FAST = [
    "--max_length", "48", "--num_train_epochs", "1", "--per_device_train_batch_size", "8",
    "--per_device_eval_batch_size", "128", "--learning_rate", "1e-3", "--disable_tqdm", "true",
    "--dataloader_pin_memory", "false", "--report_to", "none",
]  # fmt: skip


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> str:
    """A synthetic dataset folder (invented dialogues) with meld_natural and meld_balanced configs."""
    return str(write_synthetic_dataset(tmp_path_factory.mktemp("synthetic") / "erc-synth"))


@pytest.fixture(scope="module")
def run(tmp_path_factory, benchmark_fixtures, synthetic) -> Path:
    """A `context` run on the MELD fixture (tiny random encoder), also scored on a synthetic test split."""
    encoder = make_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder")
    out = tmp_path_factory.mktemp("run") / "context"
    argv = [
        "--architecture", "context", "--model_name_or_path", encoder, "--data_dir", str(benchmark_fixtures / "meld"),
        "--synthetic_dataset", synthetic, "--test_configs", "meld_natural", "--output_dir", str(out), *FAST,
    ]  # fmt: skip
    assert train_main(argv) == 0
    return out


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_saved_model_folder_describes_itself_and_has_a_model_card(run):
    from huggingface_hub import ModelCard
    from transformers import AutoConfig, AutoTokenizer

    results = json.loads((run / "results.json").read_text())
    folder = run / "model"
    config = AutoConfig.from_pretrained(folder)
    assert config.model_type == "erc-synth" and config.architecture == "context" and config.benchmark == "meld"
    assert [config.id2label[i] for i in range(config.num_labels)] == list(MELD.labels)
    assert AutoTokenizer.from_pretrained(folder).vocab_size > 1000
    card = ModelCard.load(folder / "README.md")
    scored = {result.dataset_name: result.metric_value for result in card.data.eval_results}
    assert scored == {name: round(100 * s["weighted_f1"], 2) for name, s in results["test"].items()}
    assert set(scored) == {"meld_real", "meld_natural"}
    assert card.data.library_name == "transformers" and "erc-synth" in card.data.tags
    # The baselines stand beside the model's score in the table, and the data rows name their content pins.
    baseline = results["baselines"]["meld_real"]["tfidf_lr"]["weighted_f1"]
    row = next(line for line in card.text.splitlines() if line.startswith("| meld_real |"))
    assert f"{100 * results['test']['meld_real']['weighted_f1']:.2f}" in row and f"{100 * baseline:.2f}" in row
    assert "TF-IDF + logistic regression" in card.text and "majority class" in card.text
    assert results["data"]["real"]["sha256"] in card.text and "| meld_natural |" in card.text


def test_predict_labels_a_jsonl_file_as_the_protocol_scored_it(run, benchmark_fixtures, tmp_path):
    test = load_benchmark("meld", benchmark_fixtures / "meld")["test"]
    dialogues = tmp_path / "dialogues.jsonl"
    with dialogues.open("w", encoding="utf-8") as handle:
        for row in test:  # no emotions: the file is unlabelled
            record = {"dialogue_id": row["dialogue_id"], "speakers": row["speakers"], "utterances": row["utterances"]}
            handle.write(json.dumps(record) + "\n")
    output = tmp_path / "out" / "predictions.jsonl"
    assert cli_main(["predict", str(run / "model"), str(dialogues), "--output-dir", str(output)]) == 0
    predictions = _read_jsonl(output)
    gold = [label for row in test for label in row["emotions"]]
    assert len(predictions) == len(gold)
    assert [(p["dialogue_id"], p["turn"]) for p in predictions] == [
        (row["dialogue_id"], turn) for row in test for turn in range(len(row["utterances"]))
    ]
    for prediction in predictions:
        probabilities = prediction["probabilities"]
        assert list(probabilities) == list(MELD.labels) and "gold" not in prediction
        assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-4)
        assert prediction["label"] == max(probabilities, key=probabilities.get)
    # The same predictions the training run scored on the real test split.
    predicted = [MELD.labels.index(p["label"]) for p in predictions]
    results = json.loads((run / "results.json").read_text())
    scores = compute_scores(predicted, gold, list(MELD.labels))
    assert scores["weighted_f1"] == pytest.approx(results["test"]["meld_real"]["weighted_f1"], abs=1e-9)


def test_predict_labels_a_built_dataset_split_with_its_gold_labels(run, synthetic, tmp_path):
    from datasets import load_dataset

    output = tmp_path / "natural" / "predictions.jsonl"
    argv = [
        "predict",
        str(run / "model"),
        synthetic,
        "--dataset-config",
        "meld_natural",
        "--output-dir",
        str(output.parent),  # a folder: its predictions.jsonl
    ]
    assert cli_main(argv) == 0
    predictions = _read_jsonl(output)
    split = load_dataset(synthetic, "meld_natural", split="test")
    gold = [MELD.labels[label] for row in split for label in row["emotions"]]
    assert [p["gold"] for p in predictions] == gold
    results = json.loads((run / "results.json").read_text())
    predicted = [MELD.labels.index(p["label"]) for p in predictions]
    scores = compute_scores(predicted, [MELD.labels.index(g) for g in gold], list(MELD.labels))
    assert scores["weighted_f1"] == pytest.approx(results["test"]["meld_natural"]["weighted_f1"], abs=1e-9)


@pytest.mark.parametrize(
    "lines,message",
    [
        (['{"speakers": ["A"], "utterances": ["Hi."]}', "{not json"], ":2: not valid JSON (Expecting property name"),
        (['{"speakers": ["A", "B"], "utterances": ["Hi."]}'], ":1: a dialogue needs one speaker per utterance"),
        (['{"speakers": "A", "utterances": ["Hi."]}'], ":1: 'speakers' must be a list of strings"),
    ],
)
def test_a_bad_dialogue_file_is_one_line_naming_the_file_and_line(run, tmp_path, capsys, lines, message):
    dialogues = tmp_path / "bad.jsonl"
    dialogues.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = tmp_path / "predictions.jsonl"
    output.write_text("earlier output\n")
    assert cli_main(["predict", str(run / "model"), str(dialogues), "--output-dir", str(output)]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("erc-synth predict: ") and f"{dialogues}{message}" in error[0]
    assert output.read_text() == "earlier output\n"  # nothing already written is lost


def test_predict_refuses_a_folder_that_is_not_a_classifier(benchmark_fixtures, tmp_path, capsys):
    dialogues = tmp_path / "d.jsonl"
    dialogues.write_text('{"speakers": ["A"], "utterances": ["Hi."]}\n')
    assert cli_main(["predict", str(tmp_path), str(dialogues)]) == 1
    assert "is not a saved erc-synth classifier" in capsys.readouterr().err
