from pathlib import Path

import pytest

from erc_synth_datasets import Benchmark, BenchmarkError, get_benchmark, list_benchmarks, load_benchmark_yaml
from erc_synth_datasets.benchmarks import register_benchmark

REPO = Path(__file__).resolve().parents[1]


def test_builtin_label_orders_are_the_reference_releases():
    assert get_benchmark("meld").labels == ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger")
    assert get_benchmark("emorynlp").labels == ("Neutral", "Joyful", "Peaceful", "Powerful", "Scared", "Mad", "Sad")
    assert get_benchmark("iemocap").labels == ("hap", "sad", "neu", "ang", "exc", "fru")
    assert get_benchmark("iemocap").label_words[0] == "happy"
    assert get_benchmark("MELD").id2label[4] == "joy"
    assert set(list_benchmarks()) >= {"meld", "emorynlp", "iemocap"}


def test_speaker_conventions():
    iemocap = get_benchmark("iemocap")
    assert iemocap.speakers == ("Male", "Female")
    assert iemocap.canonical_speaker("M") == "Male"
    assert not iemocap.is_allowed_speaker("Ross")
    meld = get_benchmark("meld")
    assert "Rachel" in meld.speakers and meld.is_allowed_speaker("The Interviewer")
    assert "Rachel Green" in get_benchmark("emorynlp").speakers


def test_unknown_name_suggests_and_lists():
    with pytest.raises(BenchmarkError, match=r"Did you mean 'meld'\?.*Available: meld, emorynlp, iemocap"):
        get_benchmark("mled")
    with pytest.raises(BenchmarkError, match="Unknown MELD label 'happy'; valid labels are: neutral, surprise, fear"):
        get_benchmark("meld").label_id("happy")


def test_custom_benchmark_yaml_round_trip(tmp_path):
    example = get_benchmark(REPO / "configs" / "benchmarks" / "example_custom.yaml")
    assert example.name == "support_calls" and example.labels[0] == "neutral"
    assert get_benchmark("support_calls") is example  # registered by reading it

    import yaml

    custom = Benchmark(
        name="my_bench",
        display_name="My bench",
        labels=("calm", "upset"),
        label_words=("calm", "upset"),
        speakers=("A", "B"),
        other_speakers=False,
        speaker_aliases={"a": "A"},
        min_speakers=2,
        description="two friends talk on a train",
    )
    path = tmp_path / "my_bench.yaml"
    path.write_text(yaml.safe_dump(custom.to_dict()))
    assert load_benchmark_yaml(path) == custom
    register_benchmark(load_benchmark_yaml(path), overwrite=True)
    assert get_benchmark("my_bench").label2id == {"calm": 0, "upset": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nlabels: [a, b]\nspeakers: [A]\ndescription: d\ncolour: red\n", "unknown keys \\['colour'\\]"),
        ("name: x\nlabels: [a, b]\nspeakers: [A]\n", "missing required keys \\['description'\\]"),
        ("name: x\nlabels: [a, a]\nspeakers: [A]\ndescription: d\n", "repeated labels"),
        ("name: X y\nlabels: [a, b]\nspeakers: [A]\ndescription: d\n", "lower-case"),
        ("name: x\nlabels: a\nspeakers: [A]\ndescription: d\n", "'labels' must be a list"),
        ("name: x\nlabels: [a, b]\nlabel_words: [a]\nspeakers: [A]\ndescription: d\n", "label_words"),
        ("- just\n- a list\n", "must hold a mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_custom_benchmark_yaml(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(BenchmarkError, match=message):
        load_benchmark_yaml(path)
