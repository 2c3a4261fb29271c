"""Model outputs a careful tester would try: a corpus of hand-written cases per family, and properties over generated
inputs (the parser is total and linear, the validator accepts only clean dialogues, rejections are storable)."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from erc_synth_datasets.benchmarks import get_benchmark
from generation.parsing import has_lone_surrogate, parse_output, storable_text
from generation.validation import REASONS, validate_dialogue

MELD = get_benchmark("meld")
IEMOCAP = get_benchmark("iemocap")
EMORY = get_benchmark("emorynlp")
CORPUS = json.loads((Path(__file__).parent / "fixtures" / "hardening" / "model_outputs.json").read_text())["cases"]
MAX_CHARS = 200


def _text(case: dict) -> str:
    text = case["text"]
    return text if isinstance(text, str) else "".join(piece * count for piece, count in text)


def _verdict(text, output_format, benchmark=MELD):
    return validate_dialogue(parse_output(text, benchmark, output_format), benchmark, max_utterance_chars=MAX_CHARS)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("case", CORPUS, ids=[f"{i}-{c['family']}" for i, c in enumerate(CORPUS)])
def test_corpus(case):
    verdict = _verdict(_text(case), case["format"])
    assert verdict.reason == case["reason"], verdict.message
    if case["reason"] is None:
        dialogue = verdict.dialogue
        got = [list(turn) for turn in zip(dialogue.speakers, dialogue.utterances, dialogue.emotions, strict=True)]
        assert got == case["turns"]
    else:
        assert case["reason"] in REASONS
        assert verdict.message
        verdict.message.encode("utf-8")  # a rejection record's message is always storable


def test_every_reason_code_is_documented():
    documented = (Path(__file__).resolve().parents[1] / "docs" / "generation.md").read_text(encoding="utf-8")
    missing = [code for code in REASONS if f"`{code}`" not in documented]
    assert missing == []


def test_corpus_covers_every_family_and_its_reasons():
    families = {case["family"] for case in CORPUS}
    assert families == {
        "super_linear",
        "lone_surrogate",
        "invisible_utterance",
        "control_characters",
        "non_text_value",
        "invalid_speaker",
        "number_in_text",
        "conflicting_labels",
        "utterance_too_long",
        "output_too_long",
        "markdown",
        "bracket_first_line",
        "stage_direction",
        "clean",
    }
    reasons = {case["reason"] for case in CORPUS} - {None}
    parse_and_validate_reasons = set(REASONS) - {
        "backend_error",
        "repetition_loop",
        "no_turns",
        "too_few_turns",
        "too_many_turns",
        "too_few_speakers",
        "target_missing",
        "duplicate",
        "speaker_not_allowed",
        "label_out_of_range",
        "unknown_label",
    }
    assert parse_and_validate_reasons <= reasons


# --- properties ----------------------------------------------------------------------------------------------------

# Every Unicode character, lone surrogates and controls included.
_ANY_CHAR = st.characters(codec=None, exclude_categories=())
# Pieces that made regex-based parsers backtrack, mixed with structure characters.
_TRICKY = st.sampled_from(
    [
        " ",
        "  ",
        "\t",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "```",
        "json",
        ":",
        "：",
        "-",
        " - ",
        "1",
        "7",
        "42",
        ".",
        "!",
        "?",
        '"',
        "'",
        "*",
        "_",
        "#",
        ">",
        "•",
        "\n",
        "Ross",
        "Emotion",
        "label",
        "=",
        "joy",
        "\u200b",
        "\udcff",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(alphabet=_ANY_CHAR, max_size=300),
    st.sampled_from([MELD, IEMOCAP, EMORY]),
    st.sampled_from(["json", "lines"]),
)
def test_parser_and_validator_are_total_on_any_text(text, benchmark, output_format):
    parsed = parse_output(text, benchmark, output_format)
    assert (parsed.error is None) == bool(parsed.turns)
    verdict = validate_dialogue(parsed, benchmark, max_utterance_chars=MAX_CHARS)
    assert verdict.ok or verdict.reason in REASONS
    if has_lone_surrogate(text):
        assert not verdict.ok and verdict.reason == "invalid_unicode"
    storable_text(text).encode("utf-8")
    verdict.message.encode("utf-8")


@pytest.mark.timeout(60)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_TRICKY, st.integers(min_value=1, max_value=3000)), min_size=1, max_size=8))
def test_parser_is_linear_on_backtracking_shapes(pieces):
    # Up to ~24,000 repeated characters of the shapes that used to take minutes; the timeout is the hang guard.
    text = "".join(piece * count for piece, count in pieces)
    for output_format in ("json", "lines"):
        verdict = _verdict(text, output_format)
        assert verdict.ok or verdict.reason in REASONS


def _visible_clean(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNPS" and char not in "\u115f\u1160\u3164\uffa0\u2800"


_INVISIBLE = st.sampled_from(
    [
        "\u200b",
        "\u200c",
        "\u200d",
        "\u2060",
        "\ufeff",
        "\u3164",
        "\uffa0",
        "\u115f",
        "\u2800",
        "\u0301",
        "\u0000",
        "\u00a0",
        "\u3000",
        "\u180e",
        "\u034f",
        " ",
        "\t",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_INVISIBLE, min_size=1, max_size=12), st.sampled_from(["json", "lines"]))
def test_invisible_only_utterances_are_rejected(utterance, output_format):
    if output_format == "json":
        first = {"speaker": "Ross", "utterance": utterance, "emotion": 1}
        text = json.dumps({"turns": [first, {"speaker": "Rachel", "utterance": "Hey.", "emotion": 5}]})
    else:
        text = f"Ross: {utterance} (1)\nRachel: Hey. (5)"
    verdict = _verdict(text, output_format)
    assert verdict.reason in ("empty_utterance", "invalid_characters", "missing_label")


# Characters no name holds: not a letter, mark, digit, space or one of .'’-& (control, format, symbols, brackets...).
_NOT_IN_NAMES = st.characters(
    codec=None,
    exclude_categories=("L", "M", "Nd", "Z", "Cs"),
    exclude_characters=".'’-&\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85",
) | st.sampled_from(["\u3164", "\uffa0", "\u115f", "\u2800"])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_NOT_IN_NAMES, min_size=1, max_size=6), st.sampled_from(["json", "lines"]))
def test_implausible_guest_speakers_are_rejected(junk, output_format):
    speaker = f"Gun{junk}ther"
    if output_format == "json":
        first = {"speaker": speaker, "utterance": "Hi.", "emotion": 1}
        text = json.dumps({"turns": [first, {"speaker": "Rachel", "utterance": "Hey.", "emotion": 5}]})
    else:
        assume(":" not in junk and "：" not in junk)  # a colon ends the speaker of a line (`Gun: ther: Hi.`)
        text = f"{speaker}: Hi. (1)\nRachel: Hey. (5)"
    verdict = _verdict(text, output_format)
    assert verdict.reason == "invalid_speaker", verdict.message


_CLEAN_UTTERANCE = st.text(
    alphabet=st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="\u3164\uffa0\u115f\u1160\u2800"),
    min_size=1,
    max_size=MAX_CHARS,
).filter(lambda s: any(c.isalnum() and _visible_clean(c) for c in s))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(MELD.speakers), _CLEAN_UTTERANCE, st.integers(1, 7)), min_size=2, max_size=6)
)
def test_clean_json_dialogues_are_accepted(turns):
    document = {"turns": [{"speaker": s, "utterance": u, "emotion": e} for s, u, e in turns]}
    verdict = _verdict(json.dumps(document), "json")
    assert verdict.ok, verdict.message
    assert [e for _, _, e in turns] == [MELD.labels.index(label) + 1 for label in verdict.dialogue.emotions]


_NUMBERED_TEXT = st.from_regex(
    r"[A-Z][a-z]{2,8} (is|was|scored) \d{1,3}( - \d{1,3}|\.\d{1,2}|/\d{1,3})", fullmatch=True
)


@settings(max_examples=200, deadline=None)
@given(_NUMBERED_TEXT)
def test_numbers_inside_the_text_are_never_read_as_the_label(utterance):
    verdict = _verdict(f"Ross: {utterance}\nRachel: Hey. (5)", "lines")
    assert verdict.reason == "missing_label"


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 7),
    st.integers(1, 7),
    st.sampled_from(["{s} ({a}): Hi! ({b})", "{s}: Hi! ({a}) ({b})", "{s}: Hi! [{a}] - {b}"]),
)
def test_two_labels_on_one_utterance(a, b, template):
    text = template.format(s="Ross", a=a, b=b) + "\nRachel: Hey. (5)"
    verdict = _verdict(text, "lines")
    if a == b:
        assert verdict.ok and verdict.dialogue.emotions[0] == MELD.labels[a - 1]
    else:
        assert verdict.reason == "conflicting_labels"


# Characters that break a name wherever they stand: line breaks, tabs and other controls, format characters.
_NAME_BREAKS = st.characters(codec=None, categories=("Cc", "Cf", "Zl", "Zp"))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([MELD, EMORY, get_benchmark("iemocap")]),
    st.data(),
    st.text(alphabet=_NAME_BREAKS, min_size=1, max_size=3),
)
def test_a_line_break_or_control_character_anywhere_in_a_speaker_is_refused(benchmark, data, breaks):
    # Even around or inside one of the benchmark's own names, where stripping it would have made a valid name.
    name = data.draw(st.sampled_from(list(benchmark.speakers)))
    at = data.draw(st.integers(min_value=0, max_value=len(name)))
    speaker = name[:at] + breaks + name[at:]
    other = next(s for s in benchmark.speakers if s != name)
    document = {
        "turns": [
            {"speaker": speaker, "utterance": "Hi.", "emotion": 1},
            {"speaker": other, "utterance": "Hey.", "emotion": 2},
        ]
    }
    verdict = _verdict(json.dumps(document), "json", benchmark)
    assert verdict.reason == "invalid_speaker", (speaker, verdict.message)


# Visible characters that are not letters or digits: punctuation, symbols, Markdown markup (and spaces between).
_NO_WORD = st.characters(codec=None, categories=("P", "S", "Zs"), exclude_characters="\u3164\uffa0\u115f\u1160\u2800")
_MARKUP_AND_PUNCTUATION = st.sampled_from(list("*_-#=~>|+.!?,;'\"…—–•·/\\ "))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_NO_WORD, min_size=1, max_size=20), st.text(alphabet=_MARKUP_AND_PUNCTUATION, max_size=12))
def test_an_utterance_without_a_letter_or_digit_is_refused(utterance, line_utterance):
    assume(any(not char.isspace() for char in utterance))
    document = {
        "turns": [
            {"speaker": "Ross", "utterance": utterance, "emotion": 1},
            {"speaker": "Rachel", "utterance": "Hey.", "emotion": 5},
        ]
    }
    verdict = _verdict(json.dumps(document), "json")
    assert verdict.reason in ("no_words", "empty_utterance"), (utterance, verdict.message)  # quotes around are cut
    # The line format strips markup and end punctuation around an utterance first: what is left is empty or wordless.
    verdict = _verdict(f"Ross: {line_utterance} (1)\nRachel: Hey. (5)", "lines")
    assert verdict.reason in ("no_words", "empty_utterance", "missing_label"), (line_utterance, verdict.message)
