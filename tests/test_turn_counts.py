"""Turn counts drawn per dialogue from the benchmark's real distribution, the JSON schema per count, label words in
the schema, and the named templates (the paper's prompt stays available by name)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.runs import iter_accepted, read_manifest
from erc_synth_datasets.turn_histogram import turns_histogram as reference_turns_histogram
from generation.backends import Backend, GenerationRequest, GenerationResult, SamplingParams
from generation.config import GenerationConfig
from generation.plan import PromptPlan
from generation.prompts import PromptError, build_prompt, load_prompt_template, prompt_template_names
from generation.runner import run_generation
from generation.structured import dialogue_json_schema
from generation.task import GenerationTask
from generation.turns import TurnDistribution

MELD = get_benchmark("meld")
IEMOCAP = get_benchmark("iemocap")


def meld_distribution(min_turns: int = 2, max_turns: int = 12) -> TurnDistribution:
    return TurnDistribution.from_histogram(reference_turns_histogram(MELD), min_turns=min_turns, max_turns=max_turns)


def test_the_stored_meld_histogram_holds_counts_of_every_real_train_dialogue():
    histogram = reference_turns_histogram(MELD)
    assert sum(histogram.values()) == 1038  # MELD's train dialogues
    assert (min(histogram), max(histogram)) == (1, 24) and histogram[1] == 70 and histogram[24] == 5
    assert all(isinstance(k, int) and isinstance(v, int) for k, v in histogram.items())
    assert reference_turns_histogram(get_benchmark("configs/benchmarks/example_custom.yaml")) is None


def test_clipping_moves_short_and_long_dialogues_to_the_range_ends():
    distribution = TurnDistribution.from_histogram({1: 5, 2: 1, 3: 2, 7: 4, 30: 3}, min_turns=2, max_turns=6)
    assert distribution.counts == ((2, 6), (3, 2), (6, 7))
    assert distribution.to_dict() == {"2": 6, "3": 2, "6": 7}
    with pytest.raises(ValueError, match="holds no dialogue"):
        TurnDistribution.from_histogram({4: 0}, min_turns=2, max_turns=6)


def test_draws_follow_the_clipped_histogram():
    distribution = meld_distribution()
    counts = dict(distribution.counts)
    total = sum(counts.values())
    rng = random.Random(0)
    draws = Counter(distribution.draw(rng) for _ in range(20000))
    assert set(draws) == set(counts) and min(draws) == 2 and max(draws) == 12
    for turns, count in counts.items():
        # 20000 draws: a share's standard error is at most 0.0035; allow four of them.
        assert abs(draws[turns] / 20000 - count / total) < 0.015, turns
    # Real dialogues of 12 or more turns all ask for 12 (36% of MELD's train dialogues), those of 1 ask for 2.
    assert counts[12] == sum(v for k, v in reference_turns_histogram(MELD).items() if k >= 12) == 375
    assert counts[2] == 70 + 60


def test_the_draw_is_a_function_of_run_seed_and_index_only():
    plan = PromptPlan(MELD, "balanced", run_seed=3, turn_distribution=meld_distribution())
    again = PromptPlan(MELD, "balanced", run_seed=3, turn_distribution=meld_distribution())
    first = [plan.item(i).num_turns for i in range(200)]
    assert first == [again.item(i).num_turns for i in range(200)]
    assert [plan.item(i).num_turns for i in reversed(range(200))] == first[::-1]  # order of asking is irrelevant
    other = [
        PromptPlan(MELD, "balanced", 4, turn_distribution=meld_distribution()).item(i).num_turns for i in range(200)
    ]
    assert other != first
    # Fixed values: a run's turn counts must not change between versions.
    assert first[:8] == [3, 12, 7, 5, 5, 8, 9, 12]
    assert PromptPlan(MELD, "natural", 3).item(0).num_turns is None


def task(config: GenerationConfig, template: str = "meld-v3", output_format: str = "json") -> GenerationTask:
    distribution = meld_distribution(config.min_turns, config.max_turns) if config.turn_counts == "reference" else None
    return GenerationTask(
        config, MELD, load_prompt_template(template, MELD), None, output_format, turn_distribution=distribution
    )


def test_each_request_states_its_count_and_its_schema_enforces_exactly_that_many_turns():
    meld_task = task(GenerationConfig(benchmark="meld", turn_counts="reference", seed=3))
    schemas = {}
    for index in range(40):
        count = meld_task.plan.item(index).num_turns
        request = meld_task.request(index, attempt=1)
        turns = request.json_schema["properties"]["turns"]
        assert (turns["minItems"], turns["maxItems"]) == (count, count)
        assert f", with {count} utterances." in request.messages[0]["content"]
        assert request.json_schema is schemas.setdefault(count, request.json_schema)  # one object per count
    assert len(schemas) > 5
    # The manifest's schema is the whole range.
    assert meld_task.json_schema["properties"]["turns"]["minItems"] == 2
    assert meld_task.json_schema["properties"]["turns"]["maxItems"] == 12
    # The line format has no schema and still states the count.
    lines = task(GenerationConfig(benchmark="meld", turn_counts="reference", seed=3), output_format="lines")
    assert lines.request(0, 0).json_schema is None
    assert f"with {lines.plan.item(0).num_turns} utterances" in lines.request(0, 0).messages[0]["content"]


def test_without_a_drawn_count_the_new_template_renders_the_papers_prompt_exactly():
    paper, stated = load_prompt_template("meld", MELD), load_prompt_template("meld-v3", MELD)
    assert paper.version == "meld-v1" and stated.version == "meld-v3"
    assert not paper.states_num_turns and stated.states_num_turns
    for output_format in ("json", "lines"):
        for target in (None, "fear"):
            kwargs = {"output_format": output_format, "min_turns": 2, "max_turns": 12, "target_emotion": target}
            assert build_prompt(stated, MELD, **kwargs) == build_prompt(paper, MELD, **kwargs)
    assert "with 2 to 12 utterances" in build_prompt(paper, MELD, output_format="json", min_turns=2, max_turns=12)
    drawn = build_prompt(stated, MELD, output_format="json", min_turns=2, max_turns=12, num_turns=7)
    assert "characters Chandler, Joey, Monica, Phoebe, Rachel and Ross, with 7 utterances." in drawn


def test_a_template_that_does_not_state_the_count_is_refused_when_counts_are_drawn(tmp_path):
    config = GenerationConfig(
        benchmark="meld", turn_counts="reference", prompt_file="meld", output=str(tmp_path / "r")
    )
    with pytest.raises(PromptError, match=r"does not state it \(its task has no \{num_turns\}\).*meld-v3"):
        task(config, template="meld")
    with pytest.raises(PromptError, match="does not state it"):
        run_generation(config, backend=SchemaBackend())
    assert not (tmp_path / "r").exists()  # refused before the run folder is made


def test_named_templates_and_unknown_names():
    assert {"meld", "meld-v2", "meld-v3", "emorynlp", "iemocap", "default"} <= set(prompt_template_names())
    assert Path(load_prompt_template("meld", MELD).source).name == "meld.yaml"
    with pytest.raises(PromptError, match=r"No prompt template named 'meld-v9'; available: \[.*'meld-v3'"):
        load_prompt_template("meld-v9", MELD)


def test_label_words_in_the_schema():
    schema = dialogue_json_schema(IEMOCAP, min_turns=4, max_turns=4, emotion_format="word")
    emotion = schema["properties"]["turns"]["items"]["properties"]["emotion"]
    assert emotion == {"type": "string", "enum": ["happy", "sad", "neutral", "angry", "excited", "frustrated"]}
    numbers = dialogue_json_schema(IEMOCAP, emotion_format="number")["properties"]["turns"]["items"]
    assert numbers["properties"]["emotion"] == {"type": "integer", "enum": [1, 2, 3, 4, 5, 6]}
    with pytest.raises(ValueError, match="emotion_format must be one of \\['number', 'word'\\]"):
        dialogue_json_schema(IEMOCAP, emotion_format="name")


def test_a_label_word_that_names_two_labels_is_refused_for_the_word_schema():
    from erc_synth_datasets.benchmarks import Benchmark

    clash = Benchmark(
        name="clash",
        display_name="Clash",
        labels=("calm", "tense"),
        label_words=("tense", "anxious"),
        speakers=("A", "B"),
        description="a test",
    )
    with pytest.raises(ValueError, match="label word 'tense' \\(label 'calm'\\) does not name exactly one label"):
        dialogue_json_schema(clash, emotion_format="word")
    assert dialogue_json_schema(clash)["properties"]["turns"]["items"]["properties"]["emotion"]["enum"] == [1, 2]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"turn_counts": "real"}, "turn_counts must be one of ['range', 'reference'], but got turn_counts='real'."),
        ({"emotion_format": "label"}, "emotion_format must be one of ['number', 'word'], but got emotion_format="),
    ],
)
def test_unknown_values_are_refused(overrides, expected):
    with pytest.raises(ConfigError) as info:
        GenerationConfig(**overrides)
    assert expected in str(info.value)


class SchemaBackend(Backend):
    """Answers every request with a JSON document of exactly as many turns as its schema asks for, labelled with the
    first allowed emotion value (a number or a word), and remembers the requests."""

    name = "schema-test"

    def __init__(self) -> None:
        self.requests: list[GenerationRequest] = []

    @property
    def model_name(self) -> str:
        return "schema-test-backend"

    @property
    def supports_json_schema(self) -> bool:
        return True

    def load(self) -> None:
        pass

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[GenerationResult]:
        results = []
        for request in requests:
            self.requests.append(request)
            turns = request.json_schema["properties"]["turns"]
            emotions = turns["items"]["properties"]["emotion"]["enum"]
            speakers = turns["items"]["properties"]["speaker"]["enum"]
            rng = random.Random(request.seed)
            document = {
                "turns": [
                    {
                        "speaker": speakers[turn % 2],
                        "utterance": f"Line {turn}: {rng.choice(['coffee', 'the couch', 'Paris'])} {rng.random()}",
                        "emotion": emotions[(turn * 3) % len(emotions)],
                    }
                    for turn in range(turns["minItems"])
                ]
            }
            results.append(GenerationResult(text=json.dumps(document), completion_tokens=10))
        return results


def test_a_run_with_drawn_counts_and_label_words_records_them_and_maps_words_to_labels(tmp_path):
    config = GenerationConfig(
        benchmark="meld",
        turn_counts="reference",
        emotion_format="word",
        prompt_file="meld-v3",
        num_dialogues=6,
        seed=2,
        output=str(tmp_path / "run"),
        progress=False,
    )
    backend = SchemaBackend()
    summary = run_generation(config, backend=backend)
    assert summary.status == "complete" and summary.accepted == 6
    manifest = read_manifest(tmp_path / "run")
    assert manifest.settings["turn_counts"] == "reference" and manifest.settings["emotion_format"] == "word"
    assert manifest.settings["turn_distribution"] == meld_distribution().to_dict()
    assert manifest.prompt_version == "meld-v3"
    plan = PromptPlan(MELD, "natural", 2, turn_distribution=meld_distribution())
    for record in iter_accepted(tmp_path / "run"):
        count = plan.item(record.index).num_turns
        assert len(record.utterances) == count and f"with {count} utterances" in record.prompt
        # Words were written; label names are stored (the ClassLabel maps them to ids).
        assert record.emotions[0] == "neutral" and set(record.emotions) <= set(MELD.labels)
    words = {r.json_schema["properties"]["turns"]["items"]["properties"]["emotion"]["type"] for r in backend.requests}
    assert words == {"string"}


def test_a_benchmark_without_stored_figures_falls_back_to_the_range(tmp_path):
    messages = []
    config = GenerationConfig(
        benchmark="configs/benchmarks/example_custom.yaml",
        turn_counts="reference",
        num_dialogues=2,
        output=str(tmp_path / "run"),
        progress=False,
    )
    backend = SchemaBackend()
    assert run_generation(config, backend=backend, log=messages.append).status == "complete"
    assert any("has no stored turns-per-dialogue histogram" in message for message in messages)
    assert read_manifest(tmp_path / "run").settings["turn_distribution"] is None
    turns = backend.requests[0].json_schema["properties"]["turns"]
    assert (turns["minItems"], turns["maxItems"]) == (2, 12)
