"""Prompt templates, the prompt plan (natural, balanced, persona) and derived seeds."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from erc_synth_datasets.benchmarks import get_benchmark
from generation.personas import PersonaError, load_persona_pools, sample_persona
from generation.plan import PromptPlan, derive_seed, shard_indices
from generation.prompts import PromptError, build_prompt, default_prompt_file, label_legend, load_prompt_template
from generation.structured import dialogue_json_schema

MELD = get_benchmark("meld")
IEMOCAP = get_benchmark("iemocap")


def test_each_builtin_benchmark_has_its_own_versioned_template():
    for name, default in (("meld", "meld-v3"), ("emorynlp", "emorynlp-v2"), ("iemocap", "iemocap-v2")):
        benchmark = get_benchmark(name)
        template = load_prompt_template(None, benchmark)
        assert default_prompt_file(benchmark).name == f"{default}.yaml"
        assert template.version == default and template.states_num_turns
        # The paper's template stays available by name, and the default reads exactly like it without a drawn count.
        paper = load_prompt_template(name, benchmark)
        assert paper.version == f"{name}-v1" and not paper.states_num_turns
        for output_format in ("json", "lines"):
            kwargs = {"output_format": output_format, "min_turns": 2, "max_turns": 12, "target_emotion": None}
            assert build_prompt(template, benchmark, **kwargs) == build_prompt(paper, benchmark, **kwargs)


def test_revised_meld_template_keeps_the_legend():
    paper = load_prompt_template("meld", MELD)
    revised = load_prompt_template(default_prompt_file(MELD).with_name("meld-v2.yaml"), MELD)
    assert paper.version == "meld-v1" and revised.version == "meld-v2"
    prompt = build_prompt(revised, MELD, output_format="json", min_turns=2, max_turns=12)
    task, labels, structure = prompt.split("\n", 2)
    assert "never repeat a line" in task and "2 to 12 utterances" in task
    assert label_legend(MELD) in labels and "most everyday lines are neutral" in labels
    assert structure == build_prompt(paper, MELD, output_format="json", min_turns=2, max_turns=12).split("\n")[2]


def test_prompt_has_the_three_parts_and_names_the_target_in_words_only():
    template = load_prompt_template(None, IEMOCAP)
    prompt = build_prompt(template, IEMOCAP, output_format="lines", min_turns=2, max_turns=6, target_emotion="fru")
    task, labels, structure = prompt.split("\n", 2)
    assert "unnamed male speaker" in task and "Male and Female" in task
    assert "frustrated" in task
    # Never the target's number, never how many.
    assert "6" not in task.replace("2 to 6", "") and "at least one" in task
    assert labels.startswith("After every utterance") and label_legend(IEMOCAP) in labels
    assert "1 = happy, 2 = sad, 3 = neutral, 4 = angry, 5 = excited, 6 = frustrated" in labels
    assert "Male: ... (number)" in structure


def test_natural_json_prompt_has_no_target_and_asks_for_json():
    template = load_prompt_template(None, MELD)
    prompt = build_prompt(template, MELD, output_format="json", min_turns=2, max_turns=4)
    assert "must contain" not in prompt
    assert '{"turns": [{"speaker": name, "utterance": text, "emotion": number}, ...]}' in prompt
    assert "7 = anger" in prompt


def test_custom_benchmark_uses_default_template(tmp_path):
    benchmark = get_benchmark("configs/benchmarks/example_custom.yaml")
    template = load_prompt_template(None, benchmark)
    assert template.version == "default-v2"
    prompt = build_prompt(template, benchmark, output_format="lines", min_turns=2, max_turns=5)
    assert benchmark.description in prompt and "Agent and Customer" in prompt


def test_bad_templates_are_refused_with_the_reason(tmp_path):
    good = tmp_path / "t.yaml"
    text = open(default_prompt_file(MELD), encoding="utf-8").read()
    good.write_text(text.replace("{legend}", "{legnd}"), encoding="utf-8")
    with pytest.raises(PromptError, match="unknown placeholders \\['legnd'\\]"):
        load_prompt_template(good, MELD)
    good.write_text(text.replace("version: meld-v3", "vers: 1"), encoding="utf-8")
    with pytest.raises(PromptError, match="unknown keys \\['vers'\\], missing keys \\['version'\\]"):
        load_prompt_template(good, MELD)
    with pytest.raises(PromptError, match="does not exist"):
        load_prompt_template(tmp_path / "missing.yaml", MELD)


def test_balanced_plan_targets_every_label_equally():
    plan = PromptPlan(MELD, "balanced", run_seed=0)
    for count in (7, 20, 23):
        targets = Counter(plan.item(i).target_emotion for i in range(count))
        assert set(targets) <= set(MELD.labels)
        assert max(targets.values()) - min(targets.get(label, 0) for label in MELD.labels) <= 1
    assert PromptPlan(MELD, "natural", 0).item(3).target_emotion is None


def test_persona_plan_is_layered_reproducible_and_respects_speakers():
    pools = load_persona_pools()
    plan = PromptPlan(MELD, "natural", run_seed=5, persona_pools=pools)
    first = plan.item(4)
    assert first == PromptPlan(MELD, "natural", run_seed=5, persona_pools=pools).item(4)
    assert first.persona != plan.item(5).persona
    people = first.persona["speakers"]
    assert 2 <= len(people) <= 3 and {p["speaker"] for p in people} <= set(MELD.speakers)
    for person in people:
        assert set(person) == {"speaker", "age", "gender", "occupation", "personality", "background"}
        assert person["gender"] == pools.fixed_genders[person["speaker"]]
    assert first.persona["situation"] in pools.situations
    assert json.loads(first.persona_json()) == first.persona
    fixed = PromptPlan(IEMOCAP, "balanced", 1, pools).item(0).persona
    assert [(p["speaker"], p["gender"]) for p in fixed["speakers"]] == [("Male", "man"), ("Female", "woman")]
    prompt = build_prompt(
        load_prompt_template(None, IEMOCAP), IEMOCAP, output_format="json", min_turns=2, max_turns=4, persona=fixed
    )
    assert fixed["situation"] in prompt and "Male is a" in prompt


def test_persona_pools_validation(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("ages: []\n", encoding="utf-8")
    with pytest.raises(PersonaError, match="'ages' must be a non-empty list"):
        load_persona_pools(path)
    path.write_text("colour: [red]\n", encoding="utf-8")
    with pytest.raises(PersonaError, match="unknown keys \\['colour'\\]"):
        load_persona_pools(path)


def test_derived_seeds_are_stable_and_distinct():
    assert derive_seed(0, 0, 0) == derive_seed(0, 0, 0)
    seeds = {derive_seed(run, index, attempt) for run in range(3) for index in range(30) for attempt in range(3)}
    assert len(seeds) == 270 and all(0 <= s < 2**63 for s in seeds)
    assert derive_seed(1, 2, 3) == 6737131705477211953  # a fixed value: seeds must not change between versions


def test_shards_partition_the_plan():
    shards = [list(shard_indices(10, i, 3)) for i in range(3)]
    assert sorted(sum(shards, [])) == list(range(10))
    assert shards[1] == [1, 4, 7]


def test_json_schema_follows_the_benchmark():
    schema = dialogue_json_schema(IEMOCAP, min_turns=2, max_turns=5, max_utterance_chars=80)
    turns = schema["properties"]["turns"]
    assert (turns["minItems"], turns["maxItems"]) == (2, 5)
    item = turns["items"]["properties"]
    assert item["speaker"]["enum"] == ["Male", "Female"]
    assert item["emotion"]["enum"] == [1, 2, 3, 4, 5, 6]
    assert item["utterance"] == {"type": "string", "minLength": 1, "maxLength": 80}


def test_sample_persona_is_a_pure_function_of_the_rng():
    import random

    pools = load_persona_pools()
    assert sample_persona(pools, MELD, random.Random(3)) == sample_persona(pools, MELD, random.Random(3))
