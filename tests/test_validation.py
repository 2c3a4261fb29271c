"""The validator: each check has its reason code; property-based: valid dialogues pass, every output gets a verdict."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erc_synth_datasets.benchmarks import get_benchmark
from generation.parsing import ParsedTurn, ParseResult, parse_output
from generation.validation import REASONS, dialogue_fingerprint, validate_dialogue

MELD = get_benchmark("meld")
IEMOCAP = get_benchmark("iemocap")


def turns(*items: tuple[str, str, str | None]) -> ParseResult:
    return ParseResult(turns=[ParsedTurn(speaker=s, utterance=u, emotion=e) for s, u, e in items])


def test_valid_dialogue_keeps_label_names_and_canonical_speakers():
    verdict = validate_dialogue(turns(("M", " Hello. ", "neu"), ("F", "Hi!", "hap")), IEMOCAP, target_emotion="hap")
    assert verdict.ok
    assert verdict.dialogue.speakers == ["Male", "Female"]
    assert verdict.dialogue.utterances == ["Hello.", "Hi!"]
    assert verdict.dialogue.emotions == ["neu", "hap"]


def test_each_check_has_its_reason():
    two = [("Ross", "Hi.", "neutral"), ("Rachel", "Hey.", "joy")]
    cases = {
        "no_turns": (ParseResult(), {}),
        "invalid_json": (ParseResult(error="invalid_json", message="cut off"), {}),
        "missing_label": (turns(("Ross", "Hi.", None), two[1]), {}),
        "empty_utterance": (turns(("Ross", "  ", "neutral"), two[1]), {}),
        "too_few_turns": (turns(two[0]), {}),
        "too_many_turns": (turns(*two, *two), {"max_turns": 3}),
        "target_missing": (turns(*two), {"target_emotion": "fear"}),
        "duplicate": (turns(*two), {"seen": {dialogue_fingerprint(["ross", "RACHEL"], ["hi.", "hey. "])}}),
    }
    for reason, (parsed, options) in cases.items():
        verdict = validate_dialogue(parsed, MELD, **options)
        assert verdict.reason == reason, (reason, verdict)
        assert not verdict.ok
        assert reason in REASONS
    speaker = validate_dialogue(turns(("Narrator", "Hi.", "neu"), ("Male", "Yo.", "neu")), IEMOCAP)
    assert speaker.reason == "speaker_not_allowed"
    alone = validate_dialogue(turns(("Male", "Hi.", "neu"), ("Male", "Yo.", "neu")), IEMOCAP)
    assert alone.reason == "too_few_speakers"
    out_of_range = parse_output('{"turns": [{"speaker": "Ross", "utterance": "a", "emotion": 8}]}', MELD)
    assert validate_dialogue(out_of_range, MELD).reason == "label_out_of_range"


def test_guest_speakers_allowed_only_where_the_benchmark_allows_them():
    guest = turns(("Gunther", "Coffee?", "neutral"), ("Ross", "Sure.", "neutral"))
    assert validate_dialogue(guest, MELD).ok


# Utterances a careful reader accepts: letters, digits, punctuation, symbols and spaces, with a letter or digit.
_CLEAN_TEXT = st.text(
    alphabet=st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="\u115f\u1160\u3164\uffa0\u2800"),
    min_size=1,
    max_size=40,
).filter(lambda s: any(unicodedata.category(c)[0] in "LN" for c in s))
_LINE = st.tuples(st.sampled_from(list(IEMOCAP.speakers)), _CLEAN_TEXT, st.sampled_from(list(IEMOCAP.labels)))


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINE, min_size=2, max_size=8), st.integers(min_value=2, max_value=8))
def test_validator_agrees_with_a_direct_check(items, max_turns):
    parsed = turns(*items)
    verdict = validate_dialogue(parsed, IEMOCAP, min_turns=2, max_turns=max_turns)
    expected_ok = len(items) <= max_turns and len({s for s, _, _ in items}) >= 2
    assert verdict.ok == expected_ok
    if verdict.ok:
        assert verdict.dialogue.emotions == [e for _, _, e in items]
        again = validate_dialogue(parsed, IEMOCAP, max_turns=max_turns, seen={verdict.dialogue.fingerprint})
        assert again.reason == "duplicate"
    else:
        assert verdict.reason in ("too_many_turns", "too_few_speakers")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.sampled_from([None, "hap", "fru"]))
def test_every_output_gets_a_known_verdict(text, target):
    for output_format in ("json", "lines"):
        verdict = validate_dialogue(parse_output(text, IEMOCAP, output_format), IEMOCAP, target_emotion=target)
        assert verdict.ok or verdict.reason in REASONS


def test_balanced_target_is_checked_on_json_output():
    document = {
        "turns": [
            {"speaker": "Male", "utterance": "Ugh.", "emotion": 6},
            {"speaker": "Female", "utterance": "Sorry.", "emotion": 2},
        ]
    }
    parsed = parse_output(json.dumps(document), IEMOCAP)
    assert validate_dialogue(parsed, IEMOCAP, target_emotion="fru").ok
    assert validate_dialogue(parsed, IEMOCAP, target_emotion="ang").reason == "target_missing"


@pytest.mark.parametrize(
    ("speaker", "utterance", "reason"),
    [
        ("Ross\n", "Hello there.", "invalid_speaker"),
        ("Ross\nRachel", "Hello there.", "invalid_speaker"),
        ("Gun\tther", "Hello there.", "invalid_speaker"),
        ("Ross", "**", "no_words"),
        ("Ross", "---", "no_words"),
        ("Ross", " ** __ ## ", "no_words"),
    ],
)
def test_line_breaks_in_speakers_and_markup_only_utterances_are_refused(speaker, utterance, reason):
    meld = get_benchmark("meld")
    parsed = turns((speaker, utterance, "joy"), ("Rachel", "Fine, thanks.", "neutral"))
    verdict = validate_dialogue(parsed, meld, min_turns=2)
    assert verdict.reason == reason, verdict
