"""The JSON schema a constrained decoder enforces: the benchmark's speakers, non-empty utterances, legend labels.

A document looks like `{"turns": [{"speaker": "Ross", "utterance": "...", "emotion": 3}, ...]}` where `emotion` is
the number of a label in the prompt's legend (`prompts.LABEL_NUMBER_BASE` is the first label's number), or, with
`emotion_format="word"`, the label's word as the legend shows it (`"emotion": "sadness"`). The prompt keeps the
numbered legend in both cases; `parsing.resolve_label` maps either back onto the label.

With a turn count drawn per dialogue (`generation.turns`) a request's schema has `minItems = maxItems = N`; the task
keeps one schema object per distinct N and the backends compile each distinct schema once.
"""

from __future__ import annotations

from typing import Any

from erc_synth_datasets.benchmarks import Benchmark

from .config import EMOTION_FORMATS
from .parsing import resolve_label
from .prompts import LABEL_NUMBER_BASE

__all__ = ["dialogue_json_schema", "emotion_enum"]


def emotion_enum(benchmark: Benchmark, emotion_format: str = "number") -> list[int] | list[str]:
    """The values the schema allows for `emotion`: the legend numbers, or the label words of the legend.

    Raises:
        ValueError: an unknown `emotion_format`, or a label word that does not name exactly one label (it could not
            be mapped back).
    """
    if emotion_format not in EMOTION_FORMATS:
        raise ValueError(f"emotion_format must be one of {list(EMOTION_FORMATS)}, but got {emotion_format!r}.")
    if emotion_format == "number":
        return list(range(LABEL_NUMBER_BASE, LABEL_NUMBER_BASE + benchmark.num_labels))
    words = list(benchmark.label_words)
    for label, word in zip(benchmark.labels, words, strict=True):
        if resolve_label(word, benchmark) != (label, None):
            raise ValueError(
                f"{benchmark.display_name}'s label word {word!r} (label {label!r}) does not name exactly one label, "
                "so emotion_format='word' cannot map it back; give every label a distinct label_words entry in the "
                "benchmark definition, or use emotion_format='number'."
            )
    return words


def dialogue_json_schema(
    benchmark: Benchmark,
    *,
    min_turns: int = 2,
    max_turns: int = 12,
    max_utterance_chars: int = 200,
    emotion_format: str = "number",
) -> dict[str, Any]:
    """The JSON schema of one generated dialogue for `benchmark`.

    Args:
        benchmark: Gives the allowed speakers (its main speakers) and the labels.
        min_turns: `minItems` of the turns.
        max_turns: `maxItems` of the turns (equal to `min_turns` for a dialogue asked for exactly that many).
        max_utterance_chars: `maxLength` of an utterance, which also bounds the tokens a document can take.
        emotion_format: `number` (an integer of the legend) or `word` (a string, one of the label words).
    """
    values = emotion_enum(benchmark, emotion_format)
    emotion = {"type": "integer" if emotion_format == "number" else "string", "enum": values}
    turn = {
        "type": "object",
        "properties": {
            "speaker": {"type": "string", "enum": list(benchmark.speakers)},
            "utterance": {"type": "string", "minLength": 1, "maxLength": max_utterance_chars},
            "emotion": emotion,
        },
        "required": ["speaker", "utterance", "emotion"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"turns": {"type": "array", "items": turn, "minItems": min_turns, "maxItems": max_turns}},
        "required": ["turns"],
        "additionalProperties": False,
    }
