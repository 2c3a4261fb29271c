"""Encoding utterances (speaker prefixes, left truncation, speaker memory), batching, label-space checks, configs."""

from __future__ import annotations

import pytest
from datasets import Dataset
from run_fixtures import write_synthetic_dataset

from erc_synth_datasets import get_benchmark
from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.options import make_config_parser, parse_config
from erc_synth_datasets.schema import dialogue_features, empty_provenance
from trainers.config import DataArguments, ModelArguments, variant_of
from trainers.data import ErcDataCollator, check_label_space, encode_dialogues, load_synthetic
from trainers.errors import LabelSpaceError, TrainingConfigError
from trainers.testing import minilm_path
from trainers.training_args import ErcTrainingArguments

MELD = get_benchmark("meld")


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path(), truncation_side="left")


def _dialogues() -> Dataset:
    row = {
        "dialogue_id": "d1",
        "speakers": ["Ross", "Rachel", "Ross", "Rachel"],
        "utterances": ["one two three four five", "six seven eight", "nine ten", "eleven twelve"],
        "emotions": [0, 4, 6, 1],
        **empty_provenance(),
    }
    return Dataset.from_list([row], features=dialogue_features(MELD))


def test_encoding_prefixes_speakers_and_keeps_the_most_recent_context(tokenizer):
    encoded = encode_dialogues(_dialogues(), tokenizer, ModelArguments(max_length=14))
    assert len(encoded) == 4
    assert encoded["labels"] == [0, 4, 6, 1]
    first = tokenizer.convert_ids_to_tokens(encoded[0]["input_ids"])
    assert first == ["[CLS]", "ross", ":", "one", "two", "three", "four", "five", "[SEP]"]
    last = tokenizer.decode(encoded[3]["input_ids"])
    # 14 tokens: the oldest context is cut from the left, the target utterance survives whole.
    assert len(encoded[3]["input_ids"]) == 14
    assert last.endswith("[SEP] rachel : eleven twelve [SEP]")
    assert "nine ten" in last and "one two" not in last
    assert encoded["length"] == [len(ids) for ids in encoded["input_ids"]]


def _long_turns() -> Dataset:
    row = {
        "dialogue_id": "d2",
        "speakers": ["Ross", "Rachel", "Ross"],
        "utterances": [" ".join(["apple"] * 30), " ".join(["banana"] * 20), "one two three four five six"],
        "emotions": [0, 4, 6],
        **empty_provenance(),
    }
    return Dataset.from_list([row], features=dialogue_features(MELD))


def test_only_the_context_is_truncated_and_the_target_can_come_first(tokenizer):
    # The target (8 tokens with its speaker) and a context longer than the budget: the target survives whole.
    last = encode_dialogues(_long_turns(), tokenizer, ModelArguments(max_length=16))[2]
    tokens = tokenizer.convert_ids_to_tokens(last["input_ids"])
    assert len(tokens) == 16
    assert tokens[-10:] == ["[SEP]", "ross", ":", "one", "two", "three", "four", "five", "six", "[SEP]"]
    assert tokens[:7] == ["[CLS]", *["banana"] * 5, "[SEP]"]  # the most recent context only
    first = encode_dialogues(_long_turns(), tokenizer, ModelArguments(max_length=16, target_position="first"))[2]
    tokens = tokenizer.convert_ids_to_tokens(first["input_ids"])
    assert tokens[:11] == ["[CLS]", "ross", ":", "one", "two", "three", "four", "five", "six", "[SEP]", "banana"]
    assert len(tokens) == 16 and tokens[-1] == "[SEP]"
    assert first["token_type_ids"][1] == 0 and first["token_type_ids"][-1] == 1


@pytest.mark.parametrize("target_position", ["last", "first"])
def test_target_mask_marks_exactly_the_target_utterance(tokenizer, target_position):
    args = ModelArguments(max_length=16, target_position=target_position)
    encoded = encode_dialogues(_long_turns(), tokenizer, args)
    for row in encoded:
        assert len(row["target_mask"]) == len(row["input_ids"])
    for row in (encoded[0], encoded[1]):  # targets too long for any context: encoded alone, every token is target
        assert row["target_mask"] == [0] + [1] * (len(row["input_ids"]) - 2) + [0]
    tokens = tokenizer.convert_ids_to_tokens(encoded[2]["input_ids"])
    marked = [t for t, m in zip(tokens, encoded[2]["target_mask"], strict=True) if m]
    assert marked == ["ross", ":", "one", "two", "three", "four", "five", "six"]  # no context, no special token
    batch = ErcDataCollator(pad_token_id=tokenizer.pad_token_id)([encoded[i] for i in range(3)])
    assert batch["target_mask"].shape == batch["input_ids"].shape
    assert (batch["target_mask"] <= batch["attention_mask"]).all()
    with pytest.raises(TrainingConfigError, match="pooling"):
        ModelArguments(pooling="max")


def test_a_target_that_leaves_no_room_for_context_is_encoded_alone(tokenizer):
    # "rachel : banana x20" is 22 tokens: with max_length 16 no context fits, the target alone is truncated.
    second = encode_dialogues(_long_turns(), tokenizer, ModelArguments(max_length=16))[1]
    tokens = tokenizer.convert_ids_to_tokens(second["input_ids"])
    assert len(tokens) == 16 and "apple" not in tokens and tokens.count("[SEP]") == 1
    with pytest.raises(TrainingConfigError, match="target_position"):
        ModelArguments(target_position="middle")


def test_memory_holds_the_same_speakers_earlier_utterances_oldest_first(tokenizer):
    encoded = encode_dialogues(_dialogues(), tokenizer, ModelArguments(max_length=64), with_memory=True)
    memories = [
        [tokenizer.decode(ids, skip_special_tokens=True) for ids in row] for row in encoded["memory_input_ids"]
    ]
    assert memories == [[], [], ["one two three four five"], ["six seven eight"]]
    capped = encode_dialogues(_dialogues(), tokenizer, ModelArguments(memory_max_turns=0), with_memory=True)
    assert all(row == [] for row in capped["memory_input_ids"])


def test_collator_pads_to_the_longest_row_only(tokenizer):
    encoded = encode_dialogues(_dialogues(), tokenizer, ModelArguments(max_length=64), with_memory=True)
    batch = ErcDataCollator(pad_token_id=tokenizer.pad_token_id)([encoded[i] for i in range(4)])
    longest = max(len(ids) for ids in encoded["input_ids"])
    assert batch["input_ids"].shape == (4, longest)
    assert batch["attention_mask"].sum(dim=1).tolist() == [len(ids) for ids in encoded["input_ids"]]
    assert batch["labels"].tolist() == [0, 4, 6, 1]
    assert batch["memory_input_ids"].shape[:2] == (4, 1)
    assert batch["memory_attention_mask"][:, 0, 0].tolist() == [0, 0, 1, 1]
    padded = ErcDataCollator(pad_token_id=0, pad_to_multiple_of=8)([encoded[0]])
    assert padded["input_ids"].shape[1] % 8 == 0


def test_label_space_mismatch_is_refused(tmp_path):
    folder = write_synthetic_dataset(tmp_path / "synth", labels=[*reversed(MELD.labels)], modes=("natural",))
    with pytest.raises(LabelSpaceError, match="canonical"):
        load_synthetic(DataArguments(synthetic_dataset=str(folder), data_dir="x"), "meld_natural", MELD)
    good = write_synthetic_dataset(tmp_path / "good", modes=("natural",))
    dataset, revision = load_synthetic(DataArguments(synthetic_dataset=str(good)), "meld_natural", MELD)
    assert revision["num_utterances"]["test"] == sum(len(e) for e in dataset["test"]["emotions"])
    with pytest.raises(LabelSpaceError, match="EmoryNLP"):
        check_label_space(dataset["train"], get_benchmark("emorynlp"), "meld data")
    with pytest.raises(TrainingConfigError, match="does not belong"):
        load_synthetic(DataArguments(synthetic_dataset=str(good)), "emorynlp_natural", MELD)


def test_yaml_config_maps_one_to_one_and_flags_override(tmp_path):
    parser = make_config_parser([ModelArguments, DataArguments, ErcTrainingArguments])
    config = tmp_path / "train.yaml"
    config.write_text("architecture: compm\nmax_length: 96\nnum_train_epochs: 2\nlearning_rate: 3.0e-5\n")
    model_args, data_args, training_args = parse_config(parser, ["--config", str(config), "--max_length", "80"])
    assert (model_args.architecture, model_args.max_length) == ("compm", 80)
    assert (training_args.num_train_epochs, training_args.learning_rate) == (2, 3e-5)
    assert training_args.metric_for_best_model == "weighted_f1" and training_args.load_best_model_at_end
    assert training_args.bf16 is False  # no GPU here: bf16 "where supported" stays off
    config.write_text("architecture: compm\nmax_lenght: 96\n")
    with pytest.raises(ConfigError, match="max_lenght"):
        parse_config(parser, ["--config", str(config)])


def test_variant_names():
    assert variant_of(DataArguments()) == "org"
    assert variant_of(DataArguments(synthetic_dataset="x", pretrain_config="meld_balanced")) == "balanced"
    with pytest.raises(TrainingConfigError, match="needs synthetic_dataset"):
        DataArguments(pretrain_config="meld_natural")
