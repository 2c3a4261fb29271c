"""The JSON schema a constrained decoder enforces: the benchmark's speakers, non-empty utterances, legend numbers.

A document looks like `{"turns": [{"speaker": "Ross", "utterance": "...", "emotion": 3}, ...]}` where `emotion` is
the number of a label in the prompt's legend (`prompts.LABEL_NUMBER_BASE` is the first label's number).
"""

from __future__ import annotations

from typing import Any

from erc_synth_datasets.benchmarks import Benchmark

from .prompts import LABEL_NUMBER_BASE

__all__ = ["dialogue_json_schema"]


def dialogue_json_schema(
    benchmark: Benchmark, *, min_turns: int = 2, max_turns: int = 12, max_utterance_chars: int = 200
) -> dict[str, Any]:
    """The JSON schema of one generated dialogue for `benchmark`.

    Args:
        benchmark: Gives the allowed speakers (its main speakers) and the number of labels.
        min_turns: `minItems` of the turns.
        max_turns: `maxItems` of the turns.
        max_utterance_chars: `maxLength` of an utterance, which also bounds the tokens a document can take.
    """
    numbers = list(range(LABEL_NUMBER_BASE, LABEL_NUMBER_BASE + benchmark.num_labels))
    turn = {
        "type": "object",
        "properties": {
            "speaker": {"type": "string", "enum": list(benchmark.speakers)},
            "utterance": {"type": "string", "minLength": 1, "maxLength": max_utterance_chars},
            "emotion": {"type": "integer", "enum": numbers},
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
