"""Label fidelity against a trained erc-synth classifier (`erc-synth quality --classifier`): its agreement is the one
`erc-synth predict` gives, it stands beside the TF-IDF reference in the JSON and the Markdown, and a classifier for
other labels is refused in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from run_fixtures import write_run
from sklearn.metrics import cohen_kappa_score, f1_score

from erc_synth import cli
from erc_synth_datasets import get_benchmark, load_benchmark
from erc_synth_datasets.quality.metrics import Dialogue
from erc_synth_datasets.quality.models import DialogueClassifier, dialogue_classifier_agreement
from erc_synth_datasets.quality.render import render_card_section, render_markdown
from erc_synth_datasets.quality.report import (
    CLASSIFIER_REFERENCE,
    TFIDF_REFERENCE,
    QualitySettings,
    compute_report,
)
from erc_synth_datasets.quality.sources import SyntheticSource, load_run

MELD = get_benchmark("meld")
IDS = list(range(MELD.num_labels))


@pytest.fixture(scope="module")
def classifier_folder(tmp_path_factory) -> Path:
    """A saved `context` classifier (tiny random encoder, MELD labels) with its tokenizer, as training saves it.

    The head's weights are scaled up so that its predictions differ from utterance to utterance (a kappa over one
    predicted label would be trivially 0).
    """
    import torch
    from transformers import AutoTokenizer

    from trainers.config import ModelArguments
    from trainers.models import build_model
    from trainers.testing import make_tiny_encoder

    encoder = make_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder")
    torch.manual_seed(0)
    args = ModelArguments(architecture="context", model_name_or_path=encoder, max_length=48)
    model = build_model(args, MELD.num_labels, labels=list(MELD.labels), benchmark="meld")
    with torch.no_grad():
        model.classifier.weight.normal_(std=3.0)
    folder = tmp_path_factory.mktemp("classifier") / "model"
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(encoder).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A natural MELD run made by the real runner (12 dialogues of 7 utterances)."""
    return write_run(tmp_path_factory.mktemp("run") / "run", "meld", "natural", num_dialogues=12, num_rejected=0)


def _predicted_by_the_predict_command(folder: Path, dialogues: list[Dialogue], tmp_path: Path) -> list[int]:
    """Label ids from `erc-synth predict` over a JSONL file of the dialogues (no labels in the file)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    jsonl = tmp_path / "dialogues.jsonl"
    with jsonl.open("w", encoding="utf-8") as handle:
        for index, dialogue in enumerate(dialogues):
            record = {"dialogue_id": str(index), "speakers": dialogue.speakers, "utterances": dialogue.utterances}
            handle.write(json.dumps(record) + "\n")
    output = tmp_path / "predictions.jsonl"
    assert cli.main(["predict", str(folder), str(jsonl), "--output-dir", str(output)]) == 0
    lines = output.read_text(encoding="utf-8").splitlines()
    return [MELD.labels.index(json.loads(line)["label"]) for line in lines]


def _real_test(data_dir: Path) -> list[Dialogue]:
    test = load_benchmark("meld", data_dir)["test"]
    return [Dialogue(row["speakers"], row["utterances"], row["emotions"]) for row in test]


def test_report_with_a_classifier_has_the_kappa_of_its_own_predictions(
    classifier_folder, run_dir, benchmark_fixtures, tmp_path, capsys
):
    data_dir = benchmark_fixtures / "meld"
    output = tmp_path / "report"
    argv = [
        "quality", str(run_dir), "--data-dir", str(data_dir), "--no-embeddings", "--classifier",
        str(classifier_folder), "--classifier-batch-size", "5", "--output-dir", str(output),
    ]  # fmt: skip
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    report = json.loads((output / "quality.json").read_text(encoding="utf-8"))
    fidelity = report["label_fidelity"]
    assert set(fidelity["references"]) == {TFIDF_REFERENCE, CLASSIFIER_REFERENCE}
    ours = fidelity["references"][CLASSIFIER_REFERENCE]
    assert ours["model"] == {"path": str(classifier_folder), "architecture": "context", "benchmark": "meld"}

    # The synthetic side: Cohen's kappa of the generator's labels against the classifier's own predictions.
    synthetic = load_run(run_dir).dialogues
    given = [label for d in synthetic for label in d.emotions]
    predicted = _predicted_by_the_predict_command(classifier_folder, synthetic, tmp_path / "synthetic")
    assert len(predicted) == len(given) == 84 and len(set(predicted)) > 1
    assert ours["kappa"]["synthetic"] == pytest.approx(cohen_kappa_score(given, predicted, labels=IDS), abs=1e-12)
    per_label = f1_score(given, predicted, labels=IDS, average=None, zero_division=0)
    assert list(ours["per_label_f1"]["synthetic"]) == list(MELD.labels)
    assert list(ours["per_label_f1"]["synthetic"].values()) == pytest.approx(per_label.tolist(), abs=1e-12)
    weighted = f1_score(given, predicted, labels=IDS, average="weighted", zero_division=0)
    assert ours["weighted_f1"]["synthetic"] == pytest.approx(weighted, abs=1e-12)

    # The real side: the same classifier on the real test split, against its gold labels.
    real = _real_test(data_dir)
    gold = [label for d in real for label in d.emotions]
    on_real = _predicted_by_the_predict_command(classifier_folder, real, tmp_path / "real")
    assert ours["kappa"]["real"] == pytest.approx(cohen_kappa_score(gold, on_real, labels=IDS), abs=1e-12)

    # The TF-IDF reference is still there, at the top level (the first contract) and under its name.
    tfidf = fidelity["references"][TFIDF_REFERENCE]
    assert {key: fidelity[key] for key in ("kappa", "weighted_f1", "per_label_f1")} == tfidf
    assert tfidf["kappa"]["synthetic"] is not None and tfidf["kappa"]["real"] is not None

    # The Markdown shows the classifier's kappa beside its real figure, its per-label F1 and its folder.
    markdown = (output / "quality.md").read_text(encoding="utf-8")
    assert markdown in printed
    kappa_row = (
        f"| Cohen's kappa, generator labels vs trained classifier | {ours['kappa']['synthetic']:.3f} | "
        f"{ours['kappa']['real']:.3f} |"
    )
    assert kappa_row in markdown
    tfidf_row = f"| Cohen's kappa, generator labels vs reference classifier | {tfidf['kappa']['synthetic']:.3f} |"
    assert tfidf_row in markdown
    assert "Per-label F1 (generator labels vs trained classifier):" in markdown
    assert "Per-label F1 (generator labels vs reference classifier):" in markdown
    table = markdown.split("Per-label F1 (generator labels vs trained classifier):")[1]
    first = MELD.labels[0]
    real_f1 = ours["per_label_f1"]["real"][first]
    assert f"| {first} | {ours['per_label_f1']['synthetic'][first]:.3f} | {real_f1:.3f} |" in table
    assert f"Trained classifier: `{classifier_folder}` (architecture `context`, trained on `meld`)" in markdown
    assert kappa_row in render_card_section(report)


def _swap_first_two(labels: list[str]) -> list[str]:
    swapped = list(labels)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    return swapped


@pytest.mark.parametrize(
    "labels", [_swap_first_two(list(MELD.labels)), list(get_benchmark("emorynlp").labels)], ids=["order", "emorynlp"]
)
def test_a_classifier_for_other_labels_is_refused_in_one_line(classifier_folder, run_dir, tmp_path, capsys, labels):
    folder = tmp_path / "other"
    shutil.copytree(classifier_folder, folder)
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text())
    config["id2label"] = {str(i): name for i, name in enumerate(labels)}
    config["label2id"] = {name: i for i, name in enumerate(labels)}
    config_file.write_text(json.dumps(config))
    output = tmp_path / "report"
    argv = ["quality", str(run_dir), "--no-embeddings", "--classifier", str(folder), "--output-dir", str(output)]
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    error = captured.err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("erc-synth quality: ")
    assert str(labels) in error[0] and str(list(MELD.labels)) in error[0] and "benchmark 'meld'" in error[0]
    assert "train one" in error[0]
    assert not output.exists() and captured.out == ""


class _Fixed:
    """A `DialogueClassifier` that answers given labels (a stand-in for a trained classifier)."""

    def __init__(self, labels: list[list[int]]) -> None:
        self.labels = labels

    def predict_dialogues(self, dialogues):
        return self.labels[: len(dialogues)]

    def describe(self) -> dict:
        return {"path": "fixed", "architecture": None, "benchmark": None}


def _source(dialogues: list[Dialogue]) -> SyntheticSource:
    return SyntheticSource(kind="run", path="synthetic", benchmark=MELD, dialogues=dialogues)


def test_classifier_agreement_without_real_data_and_known_values():
    speakers = ["Ross", "Rachel"]
    dialogues = [
        Dialogue(speakers, ["Hi there.", "Oh, hello!"], [0, 1]),
        Dialogue(speakers, ["The keys?", "Gone forever."], [1, 0]),
    ]
    assert isinstance(_Fixed([]), DialogueClassifier)
    # Two of four agree, and chance agreement is one half: kappa 0.
    classifier = _Fixed([[0, 1], [0, 1]])
    report = compute_report(_source(dialogues), settings=QualitySettings(embeddings=False), classifier=classifier)
    fidelity = report["label_fidelity"]
    assert list(fidelity) == ["references"]  # no real data, no stored figures: no TF-IDF reference
    figures = fidelity["references"][CLASSIFIER_REFERENCE]
    assert figures["kappa"] == {"synthetic": 0.0, "real": None}
    assert figures["per_label_f1"]["synthetic"]["neutral"] == 0.5
    assert figures["model"]["path"] == "fixed"
    markdown = render_markdown(report)
    assert "| Cohen's kappa, generator labels vs trained classifier | 0.000 | - |" in markdown
    assert "reference classifier |" not in markdown  # no TF-IDF row without a TF-IDF reference
    perfect = dialogue_classifier_agreement(_Fixed([[0, 1], [1, 0]]), dialogues, MELD.labels)
    assert perfect["kappa"] == 1.0 and perfect["weighted_f1"] == 1.0
    with pytest.raises(ValueError, match="returned 1 labels for dialogue 1, which has 2 utterances"):
        dialogue_classifier_agreement(_Fixed([[0, 1], [1]]), dialogues, MELD.labels)


def test_a_report_of_the_first_contract_still_renders_its_label_fidelity():
    pair = {"synthetic": 0.25, "real": 0.5}
    report = compute_report(
        _source([Dialogue(["Ross", "Rachel"], ["Hi there.", "Oh, hello!"], [0, 1])]),
        settings=QualitySettings(embeddings=False),
    )
    report["label_fidelity"] = {  # as written before `references` existed
        "kappa": pair,
        "weighted_f1": pair,
        "per_label_f1": {"synthetic": dict.fromkeys(MELD.labels, 0.25), "real": None},
    }
    markdown = render_markdown(report)
    assert "| Cohen's kappa, generator labels vs reference classifier | 0.250 | 0.500 |" in markdown
    assert "Per-label F1 (generator labels vs reference classifier):" in markdown
    assert "trained classifier" not in markdown
    assert "| Cohen's kappa, generator labels vs reference classifier | 0.250 | 0.500 |" in render_card_section(report)
