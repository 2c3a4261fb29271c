from datasets import ClassLabel, Dataset

from erc_synth_datasets import dialogue_features, flatten_dialogues, utterance_features
from erc_synth_datasets.schema import PROVENANCE_COLUMNS, empty_provenance


def _dialogues():
    rows = [
        {
            "dialogue_id": "d1",
            "speakers": ["Ross", "Joey", "Ross"],
            "utterances": ["a", "b", "c"],
            "emotions": ["joy", "neutral", "anger"],
            **empty_provenance(),
        },
        {
            "dialogue_id": "d2",
            "speakers": ["Monica", "Rachel"],
            "utterances": ["x", "y"],
            "emotions": ["fear", "fear"],
            **empty_provenance(),
        },
    ]
    rows[1].update(
        mode="balanced",
        target_emotion="fear",
        generator_model="m",
        seed=7,
        prompt_version="v1",
        prompt="p",
        sampling={
            "temperature": 1.0,
            "top_p": 0.99,
            "top_k": 100,
            "typical_p": None,
            "repetition_penalty": 1.0,
            "max_new_tokens": 256,
        },
    )
    return Dataset.from_list(rows, features=dialogue_features("meld"))


def test_schema_classlabel_follows_registry_and_provenance_columns():
    features = dialogue_features("iemocap")
    assert isinstance(features["emotions"].feature, ClassLabel)
    assert features["emotions"].feature.names == ["hap", "sad", "neu", "ang", "exc", "fru"]
    assert set(PROVENANCE_COLUMNS) <= set(features)
    ds = _dialogues()
    assert ds[0]["sampling"] is None and ds[1]["sampling"]["top_k"] == 100 and ds[1]["seed"] == 7


def test_flatten_gives_one_row_per_utterance_with_context():
    flat = flatten_dialogues(_dialogues())
    assert flat.features == utterance_features("meld")
    assert len(flat) == 5
    third = flat[2]
    assert third["dialogue_id"] == "d1" and third["turn"] == 2 and third["speaker"] == "Ross"
    assert third["context_speakers"] == ["Ross", "Joey"] and third["context_utterances"] == ["a", "b"]
    assert flat.features["emotion"].int2str(third["emotion"]) == "anger"
    assert flat[3]["context_utterances"] == []  # a new dialogue starts without context


def test_flatten_max_context_keeps_the_most_recent_turns():
    flat = flatten_dialogues(_dialogues(), max_context=1)
    assert flat[2]["context_utterances"] == ["b"]
    assert flatten_dialogues(_dialogues(), max_context=0)[2]["context_utterances"] == []
