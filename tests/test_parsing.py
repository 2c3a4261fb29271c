"""The lenient parser: JSON and the free line format, label words, markdown; it never raises (property-based)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erc_synth_datasets.benchmarks import get_benchmark
from generation.parsing import parse_output, resolve_label, resolve_speaker

MELD = get_benchmark("meld")
IEMOCAP = get_benchmark("iemocap")
EMORY = get_benchmark("emorynlp")


def test_json_document_maps_numbers_to_label_names():
    text = json.dumps(
        {
            "turns": [
                {"speaker": "Ross", "utterance": "We were on a break!", "emotion": 7},
                {"speaker": "Rachel", "utterance": "Oh, here we go again.", "emotion": 1},
            ]
        }
    )
    result = parse_output(text, MELD, "json")
    assert result.error is None
    assert [(t.speaker, t.utterance, t.emotion) for t in result.turns] == [
        ("Ross", "We were on a break!", "anger"),
        ("Rachel", "Oh, here we go again.", "neutral"),
    ]


@pytest.mark.parametrize("benchmark", [MELD, IEMOCAP, EMORY], ids=lambda b: b.name)
def test_label_words_of_the_word_schema_map_back_to_label_names(benchmark):
    """`emotion_format: word`: a document written under the word schema (an enum of the legend's label words) is
    read back as the label names, in canonical order, and validates."""
    from generation.structured import dialogue_json_schema
    from generation.validation import validate_dialogue

    words = dialogue_json_schema(benchmark, emotion_format="word")["properties"]["turns"]["items"]["properties"]
    assert words["emotion"]["enum"] == list(benchmark.label_words)
    speakers = list(benchmark.speakers)
    turns = [
        {"speaker": speakers[i % len(speakers)], "utterance": f"Line {i}.", "emotion": word}
        for i, word in enumerate(benchmark.label_words)
    ]
    result = parse_output(json.dumps({"turns": turns}), benchmark, "json")
    assert result.error is None
    assert [turn.emotion for turn in result.turns] == list(benchmark.labels)
    verdict = validate_dialogue(result, benchmark, min_turns=2, max_turns=12)
    assert verdict.ok and verdict.dialogue.emotions == list(benchmark.labels)
    assert [benchmark.label_id(label) for label in verdict.dialogue.emotions] == list(range(benchmark.num_labels))


def test_json_in_code_fence_with_prose_and_synonym_keys():
    text = 'Sure! Here it is:\n```json\n[{"name": "male", "text": "Hi.", "label": "happy"}]\n```\nEnjoy.'
    result = parse_output(text, IEMOCAP, "json")
    assert result.error is None
    assert [(t.speaker, t.utterance, t.emotion) for t in result.turns] == [("Male", "Hi.", "hap")]


def test_truncated_json_is_invalid_json():
    result = parse_output('{"turns": [{"speaker": "Ross", "utterance": "I was', MELD, "json")
    assert result.error == "invalid_json"
    assert result.turns == []


@pytest.mark.parametrize(
    "line, expected",
    [
        ("Ross: I can't believe it. (2)", ("Ross", "I can't believe it.", "surprise")),
        ('1. **Monica**: "Clean up this mess!" (7)', ("Monica", "Clean up this mess!", "anger")),
        ("- Joey: How you doin'? [5]", ("Joey", "How you doin'?", "joy")),
        ("Phoebe: Smelly cat... - 4", ("Phoebe", "Smelly cat...", "sadness")),
        ("Chandler: Could I BE any happier? (joy)", ("Chandler", "Could I BE any happier?", "joy")),
        ("Rachel: I got the job! Emotion: 5", ("Rachel", "I got the job!", "joy")),
        ("Ross (3): There's a spider.", ("Ross", "There's a spider.", "fear")),
        ("*Ross*: Fine. (1)", ("Ross", "Fine.", "neutral")),
        ('Ross: Seriously?" 2', ("Ross", 'Seriously?"', "surprise")),
    ],
)
def test_line_format_variants(line, expected):
    result = parse_output(line, MELD, "lines")
    assert result.error is None, result.message
    turn = result.turns[0]
    assert (turn.speaker, turn.utterance, turn.emotion) == expected


def test_lines_skip_headings_and_keep_turn_order():
    text = "Scene: Central Perk.\n\nRoss: Hi. (1)\nRachel: Hey! (5)\nThe end."
    result = parse_output(text, MELD, "lines")
    assert [(t.speaker, t.emotion) for t in result.turns] == [("Ross", "neutral"), ("Rachel", "joy")]


def test_problems_are_reported_per_turn():
    text = "Ross: Hi. (9)\nRachel: Hey!\nMonica: What? (bored)"
    turns = parse_output(text, MELD, "lines").turns
    assert [(t.speaker, t.emotion, t.problem) for t in turns] == [
        ("Ross", None, "label_out_of_range"),
        ("Rachel", None, "missing_label"),
        ("Monica", None, "unknown_label"),
    ]


def test_label_words_and_names_resolve_only_when_unambiguous():
    assert resolve_label("frustrated", IEMOCAP) == ("fru", None)
    assert resolve_label("FRU", IEMOCAP) == ("fru", None)
    assert resolve_label("6", IEMOCAP) == ("fru", None)
    assert resolve_label(0, IEMOCAP) == (None, "label_out_of_range")
    assert resolve_label("calm", IEMOCAP) == (None, "unknown_label")
    assert resolve_label(True, IEMOCAP) == (None, "unknown_label")
    assert resolve_label(None, IEMOCAP) == (None, "missing_label")


def test_speakers_resolve_aliases_case_and_unique_first_names():
    assert resolve_speaker("M", IEMOCAP) == "Male"
    assert resolve_speaker("female", IEMOCAP) == "Female"
    assert resolve_speaker("Ross", EMORY) == "Ross Geller"
    assert resolve_speaker("**joey**", MELD) == "Joey"
    assert resolve_speaker("Gunther", MELD) == "Gunther"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), st.binary(max_size=50), st.none(), st.integers(), st.lists(st.text())))
def test_parser_never_raises_on_any_input(value):
    for benchmark in (MELD, IEMOCAP):
        for output_format in ("json", "lines"):
            result = parse_output(value, benchmark, output_format)
            assert (result.error is None) == bool(result.turns)


_SPEAKER = st.sampled_from(list(MELD.speakers))
_UTTERANCE = st.text(
    alphabet=st.characters(categories=("L", "N", "Zs"), include_characters=".,!?'"), min_size=1, max_size=60
).filter(lambda s: s.strip() and not s.strip()[-1].isdigit())
_LABEL = st.integers(min_value=0, max_value=MELD.num_labels - 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_SPEAKER, _UTTERANCE, _LABEL), min_size=1, max_size=6), st.sampled_from(["()", "[]"]))
def test_well_formed_lines_round_trip(turns, brackets):
    text = "\n".join(f"{s}: {u.strip()} {brackets[0]}{label + 1}{brackets[1]}" for s, u, label in turns)
    result = parse_output(text, MELD, "lines")
    assert result.error is None
    assert [t.speaker for t in result.turns] == [s for s, _, _ in turns]
    assert [t.emotion for t in result.turns] == [MELD.labels[label] for _, _, label in turns]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_SPEAKER, st.text(max_size=80), _LABEL), min_size=1, max_size=6))
def test_well_formed_json_round_trips(turns):
    document = {"turns": [{"speaker": s, "utterance": u, "emotion": label + 1} for s, u, label in turns]}
    result = parse_output(json.dumps(document), MELD, "json")
    assert result.error is None
    assert [t.speaker for t in result.turns] == [s for s, _, _ in turns]
    assert [t.emotion for t in result.turns] == [MELD.labels[label] for _, _, label in turns]
