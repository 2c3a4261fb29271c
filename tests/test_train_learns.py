"""A classifier that learns must clear the majority-class floor fitted in the same run, on every test utterance.

The data are invented MELD-format files in which each emotion has its own cue word among filler words of varied
length, so a small randomly initialised BERT learns them in seconds. Scores that do not line up with the rows they
score (predictions in another order than the test split) fall back to the floor, and the test fails.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from erc_synth.commands.train import main as train_main
from erc_synth_datasets.benchmarks import get_benchmark
from trainers.testing import make_tiny_encoder

_FILLER = "we the coffee went park rain movie dinner friday told then about said really after before".split()
_CUES = {
    "neutral": "table",
    "surprise": "wow",
    "fear": "scared",
    "sadness": "cry",
    "joy": "great",
    "disgust": "gross",
    "anger": "furious",
}
_WEIGHTS = {"neutral": 5, "surprise": 1, "fear": 1, "sadness": 1, "joy": 2, "disgust": 1, "anger": 1}
_HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime"


def _write_split(path: Path, dialogues: int, rng: random.Random) -> None:
    labels = [label for label, weight in _WEIGHTS.items() for _ in range(weight)]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(_HEADER.split(","))
        row = 1
        for dialogue in range(dialogues):
            for turn in range(rng.randint(3, 7)):
                emotion = rng.choice(labels)
                words = [rng.choice(_FILLER) for _ in range(rng.randint(2, 16))]
                words.insert(rng.randrange(len(words) + 1), _CUES[emotion])
                speaker = rng.choice(["Ross", "Joey", "Monica"])
                time = "00:00:01,000"
                writer.writerow([row, " ".join(words), speaker, emotion, "neutral", dialogue, turn, 1, 1, time, time])
                row += 1


@pytest.fixture(scope="module")
def cue_data(tmp_path_factory) -> Path:
    assert set(_CUES) == set(get_benchmark("meld").labels)
    folder = tmp_path_factory.mktemp("cue-meld")
    rng = random.Random(0)
    for split, dialogues in (("train", 80), ("dev", 10), ("test", 40)):
        _write_split(folder / f"{split}_sent_emo.csv", dialogues, rng)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("target_position", ["last", "first"])
def test_context_classifier_clears_the_majority_floor(cue_data, tmp_path_factory, target_position):
    encoder = make_tiny_encoder(tmp_path_factory.getbasetemp() / "tiny-learns" / "encoder")
    out = tmp_path_factory.mktemp("run")
    argv = [
        "--architecture", "context", "--model_name_or_path", encoder, "--max_length", "48",
        "--target_position", target_position, "--data_dir", str(cue_data),
        "--num_train_epochs", "4", "--learning_rate", "1e-3", "--warmup_steps", "0.1",
        "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "16",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
        "--save_final_model", "false", "--use_cpu", "true", "--disable_tqdm", "true", "--report_to", "none",
        "--seed", "0", "--output_dir", str(out),
    ]  # fmt: skip
    assert train_main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    ours = results["test"]["meld_real"]
    floor = results["baselines"]["meld_real"]
    assert ours["num_utterances"] == floor["majority"]["num_utterances"] > 100
    # Scrambled or constant predictions score near the majority floor; a classifier that learned the cues is far above.
    assert ours["weighted_f1"] > floor["majority"]["weighted_f1"] + 0.25, (ours["weighted_f1"], floor)
    assert floor["tfidf_lr"]["weighted_f1"] > floor["majority"]["weighted_f1"] + 0.25
