"""Resampled labels: the generator (the real SmolLM2-135M-Instruct on CPU) labels the fixed text of a built config k
times; the vote shares are the soft label of the derived config `<config>_resampled`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from run_fixtures import write_synthetic_dataset

from erc_synth_datasets import get_benchmark
from erc_synth_datasets.vocabulary import SPLITS, ConfigName, LabelSource, Variant
from generation.default_model import DEFAULT_MODEL
from generation.resample import (
    CACHE_FOLDER,
    ResampleOptions,
    parse_votes,
    resample_config,
    resample_json_schema,
    resample_prompt,
    vote_labels,
)

MELD = get_benchmark("meld")
# A few dialogues of 7 short utterances, two samples each, answers just long enough for 7 label words.
TINY = {"samples": 2, "max_new_tokens": 320, "num_threads": 1, "progress": False, "model": DEFAULT_MODEL}
SIZES = {"train": 1, "validation": 1, "test": 1}


def test_votes_are_parsed_one_label_per_utterance_or_refused():
    speakers, utterances = ["Ross", "Rachel"], ["Hi.", "Oh, hello!"]
    document = {
        "turns": [
            {"speaker": s, "utterance": u, "emotion": e}
            for s, u, e in zip(speakers, utterances, ["joy", "fear"], strict=True)
        ]
    }
    assert parse_votes(json.dumps(document), MELD, speakers, utterances) == ["joy", "fear"]
    assert parse_votes(json.dumps(document), MELD, speakers, ["Hi.", "Hello!"]) is None  # another text
    assert parse_votes('{"emotions": ["joy", "neutral"]}', MELD, speakers, utterances) == ["joy", "neutral"]
    assert parse_votes('Sure: {"emotions": [5, "Anger"]}', MELD, speakers, utterances) == [MELD.labels[4], "anger"]
    assert parse_votes('{"emotions": ["joy"]}', MELD, speakers, utterances) is None  # one label short
    assert parse_votes('{"emotions": ["joy", "bored"]}', MELD, speakers, utterances) is None
    assert parse_votes('{"emotions": ["joy", "neu', MELD, speakers, utterances) is None
    assert parse_votes("joy, neutral", MELD, speakers, utterances) is None


def test_vote_shares_are_in_canonical_order_and_ties_go_to_the_generator():
    labels = list(MELD.labels)
    votes = [["joy", "anger", "fear"], ["joy", "sadness", "neutral"], ["anger", "sadness", "joy"]]
    out = vote_labels(votes, ["anger", "anger", "surprise"], labels)
    probs = out.probs[0]
    assert all(abs(sum(p) - 1.0) < 1e-9 and len(p) == len(labels) for p in probs)
    assert probs[0][labels.index("joy")] == pytest.approx(2 / 3)
    assert probs[0][labels.index("anger")] == pytest.approx(1 / 3)
    # Majority wins over the generator; a tie goes to the generator's label when it is tied, else to the first
    # tied label in canonical order.
    assert out.emotions[0][:2] == ["joy", "sadness"]
    tied = sorted({"fear", "neutral", "joy"}, key=labels.index)
    assert out.emotions[0][2] == tied[0]
    assert vote_labels([["fear"], ["joy"]], ["joy"], labels).emotions == [["joy"]]
    # No parsed sample: the generator's labels, one-hot.
    none = vote_labels([], ["fear"], labels)
    assert none.emotions == [["fear"]] and none.probs[0][0][labels.index("fear")] == 1.0


def test_the_schema_fixes_the_text_and_leaves_one_label_word_per_utterance():
    row = {"speakers": ["Ross", "Rachel"], "utterances": ["Hi.", "Oh, hello!"], "prompt": "Write a scene."}
    turns = resample_json_schema(MELD, row["speakers"], row["utterances"])["properties"]["turns"]
    assert turns["minItems"] == turns["maxItems"] == 2 and turns["items"] is False
    first = turns["prefixItems"][0]["properties"]
    assert first["speaker"] == {"const": "Ross"} and first["utterance"] == {"const": "Hi."}
    assert first["emotion"]["enum"] == list(MELD.label_words)
    # Constrained: the prompt the dialogue was written from; otherwise an annotation prompt showing the text.
    assert resample_prompt(row, MELD, constrained=True)[0]["content"] == "Write a scene."
    content = resample_prompt(row, MELD, constrained=False)[0]["content"]
    assert "1. Ross: Hi.\n2. Rachel: Oh, hello!" in content and "exactly 2 labels" in content


def test_the_vocabulary_names_resampled_configs_and_variants():
    variant = Variant.parse("natural-resampled")
    assert variant.labels is LabelSource.RESAMPLED and str(variant.config_name("meld")) == "meld_natural_resampled"
    assert ConfigName.parse("meld_balanced_resampled_top50").labels is LabelSource.RESAMPLED
    assert str(Variant.parse("joint-balanced-resampled")) == "joint-balanced-resampled"
    # A curated config is selected from its label source's own config; the generator's labels by the teacher's.
    assert str(ConfigName.parse("meld_balanced_resampled_top50").curation_source) == "meld_balanced_resampled"
    assert str(ConfigName.parse("meld_natural_teacher_top50").curation_source) == "meld_natural_teacher"
    assert str(ConfigName.parse("meld_natural_clean").curation_source) == "meld_natural_teacher"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "erc_synth.cli", "relabel", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (["--teacher", "runs/t/model", "--samples", "3"], "--samples apply to --label-source resampled only"),
        (["--label-source", "resampled", "--teacher", "x"], "--teacher applies to --label-source teacher only"),
        (["--label-source", "resampled", "--samples", "0"], "samples"),
        (["--label-source", "resampled", "--dataset-config", "meld_natural_teacher"], "already derived"),
    ],
)
def test_an_option_that_does_not_apply_is_refused_in_one_line(tmp_path, args, message):
    if "--dataset-config" not in args:
        args = [*args, "--dataset-config", "meld_natural"]
    done = _cli(str(tmp_path), *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert message in lines[0] and lines[0].startswith("erc-synth relabel: ")


@pytest.fixture(scope="module")
def backend():
    from generation.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(num_threads=1, progress=False)
    backend.load()
    backend.max_in_flight = 4
    yield backend
    backend.close()


@pytest.mark.slow
def test_resampled_soft_labels_are_deterministic_for_a_seed_and_round_trip(backend, tmp_path):
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    first = write_synthetic_dataset(tmp_path / "a", modes=("natural",), dialogues=SIZES)
    second = tmp_path / "b"
    shutil.copytree(first, second)
    built = resample_config(first, "meld_natural", ResampleOptions(seed=3, **TINY), backend=backend)
    again = resample_config(second, "meld_natural", ResampleOptions(seed=3, **TINY), backend=backend)
    assert built.name == again.name == "meld_natural_resampled"

    one, two = (load_dataset(str(folder), "meld_natural_resampled") for folder in (first, second))
    original = load_dataset(str(first), "meld_natural")
    names = one["train"].features["emotions"].feature.names
    assert names == list(MELD.labels)
    for split in SPLITS:
        assert one[split]["label_probs"] == two[split]["label_probs"]  # same seed, same votes
        assert one[split]["emotions"] == two[split]["emotions"]
        assert one[split]["generator_emotions"] == original[split]["emotions"]
        assert one[split]["utterances"] == original[split]["utterances"]
        assert set(one[split]["label_source"]) == {"resampled"}
        for emotions, probs in zip(one[split]["emotions"], one[split]["label_probs"], strict=True):
            for label, p in zip(emotions, probs, strict=True):
                assert len(p) == len(MELD.labels) and abs(sum(p) - 1.0) < 1e-5
                assert p[label] == max(p)  # the hard label has the most votes
                assert all(round(x * TINY["samples"], 4) % 1 == 0 for x in p)  # shares of k votes

    record = built.label_source
    assert record["source"] == "resampled" and record["samples"] == 2 and record["seed"] == 3
    assert record["generator"]["model"] == backend.model_name and record["generator"]["revision"]
    assert record["generator"]["wrote_the_dialogues"] is False  # a scripted writer, SmolLM2 labels
    assert record["constrained"] is True and record["samples_made_now"] == 2 * sum(SIZES.values())
    assert 0.0 <= record["agreement_with_generator"] <= 1.0
    info = json.loads((first / "meld_natural_resampled" / "build_info.json").read_text())
    assert info["label_source"]["settings_sha256"] == record["settings_sha256"]
    card = DatasetCard.load(first / "README.md").text
    assert "with labels from **resampled**" in card and "labelled each dialogue's fixed text 2 times" in card

    # The same settings again: nothing is sampled or rewritten. Another seed: new samples, which may differ.
    cache = first / CACHE_FOLDER / "meld_natural.jsonl"
    lines = cache.read_text().splitlines()
    assert resample_config(first, "meld_natural", ResampleOptions(seed=3, **TINY), backend=backend) == built
    assert cache.read_text().splitlines() == lines
    other = resample_config(first, "meld_natural", ResampleOptions(seed=4, **TINY), backend=backend)
    assert other.label_source["seed"] == 4 and other.label_source["samples_made_now"] == len(lines)
    seeds = [json.loads(line)["seed"] for line in cache.read_text().splitlines()]
    assert len(set(seeds)) == len(seeds) == 2 * len(lines)
    # One more sample per dialogue with the first seed reuses the first two.
    three = resample_config(first, "meld_natural", ResampleOptions(seed=3, **{**TINY, "samples": 3}), backend=backend)
    assert three.label_source["samples_cached"] == len(lines)


@pytest.mark.slow
def test_the_command_resamples_with_the_default_model_and_resumes(tmp_path):
    from datasets import load_dataset

    folder = write_synthetic_dataset(tmp_path / "ds", modes=("natural",), dialogues=SIZES)
    args = [
        str(folder), "--dataset-config", "meld_natural", "--label-source", "resampled", "--samples", "2",
        "--model", DEFAULT_MODEL, "--max-new-tokens", "320", "--num-threads", "1", "--progress", "false",
        "--batch-size", "2",
    ]  # fmt: skip
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    assert "wrote meld_natural_resampled" in done.stderr and "majority of 2 samples" in done.stderr
    relabelled = load_dataset(str(folder), "meld_natural_resampled", split="train")
    assert len(relabelled["label_probs"][0][0]) == len(MELD.labels)
    # An interrupted run continues: drop the last cached sample and the config; only that sample is made again.
    cache = folder / CACHE_FOLDER / "meld_natural.jsonl"
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:10])  # a torn last line, as a kill leaves
    shutil.rmtree(folder / "meld_natural_resampled")
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    info = json.loads((folder / "meld_natural_resampled" / "build_info.json").read_text())["label_source"]
    assert info["samples_made_now"] == 1 and info["samples_cached"] == len(lines) - 1
    assert Path(cache).read_text().count("\n") == len(lines)
