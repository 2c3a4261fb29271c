"""The LLM judge, a generation task (PersonaGen's human-likeness): a generation backend scores each dialogue 1-5 for
naturalness and for how well its emotion labels fit, with a short reason, under a JSON schema.

As the generation task has its prompt in and its parsing out, the judge has `judge_prompt` and `parse_judgement`;
its backend is built through `generation.backends.build_backend` from `JudgeOptions` (the `--judge-*` flags of
`erc-synth quality`), the backend registry's options giving every setting a flag leaves out. The quality report only
receives the summary (`summarize_judgements`).

Judgements are cached in an append-only JSONL file (`judge.jsonl` beside the report), one line per dialogue and
judge model, written by the runs' appender (`erc_synth_datasets.runs.JsonlAppender`: whole lines, fsynced) as each
answer arrives: a second call (or one after a kill) judges only the dialogues the file lacks. An answer that does not
parse as a judgement is recorded with `status: "unparsable"` and the raw text; it is counted in the summary and never
retried automatically (delete its line to retry it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from erc_synth_datasets.benchmarks import Benchmark
from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.files import parse_json
from erc_synth_datasets.quality.metrics import Dialogue
from erc_synth_datasets.runs import JsonlAppender

from .backends import GenerationRequest, SamplingParams, build_backend

__all__ = [
    "JUDGE_CACHE_NAME",
    "JUDGE_SCHEMA",
    "SCORES",
    "JudgeOptions",
    "build_judge_backend",
    "judge_dialogues",
    "judge_prompt",
    "judge_score",
    "parse_judgement",
    "read_judgements",
    "summarize_judgements",
]

#: The cache file, in the report's folder.
JUDGE_CACHE_NAME = "judge.jsonl"
#: The scores every judgement carries, each an integer 1-5.
SCORES = ("naturalness", "label_correctness")
_MAX_REASON_CHARS = 120
_RAW_CHARS = 500

JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **{score: {"type": "integer", "enum": [1, 2, 3, 4, 5]} for score in SCORES},
        "reason": {"type": "string", "minLength": 1, "maxLength": _MAX_REASON_CHARS},
    },
    "required": [*SCORES, "reason"],
    "additionalProperties": False,
}


def judge_prompt(dialogue: Dialogue, benchmark: Benchmark) -> list[dict[str, str]]:
    """The chat messages asking the judge to score one dialogue."""
    lines = "\n".join(
        f"{speaker}: {utterance} [{benchmark.labels[emotion]}]"
        for speaker, utterance, emotion in zip(dialogue.speakers, dialogue.utterances, dialogue.emotions, strict=True)
    )
    instructions = (
        f"Below is a conversation in the style of {benchmark.display_name}; each utterance ends with its emotion "
        f"label in brackets (labels: {', '.join(benchmark.labels)}).\n\n{lines}\n\n"
        "Rate it from 1 (very poor) to 5 (excellent) on two scales:\n"
        "- naturalness: does it read like a real conversation between people?\n"
        "- label_correctness: does each emotion label fit its utterance?\n"
        'Answer with JSON only: {"naturalness": N, "label_correctness": N, "reason": "one short sentence"}'
    )
    return [{"role": "user", "content": instructions}]


def parse_judgement(text: str) -> dict[str, Any] | None:
    """The scores and reason in a judge's answer, or None when it holds no valid judgement.

    The first JSON object in the text is read (an answer may wrap it in prose or a code fence); both scores must be
    integers 1-5. A missing reason is recorded as an empty string.
    """
    match = re.search(r"\{.*\}", text, flags=re.DOTALL)
    if match is None:
        return None
    try:
        data = json.loads(match.group(0))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    judgement: dict[str, Any] = {}
    for score in SCORES:
        value = data.get(score)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            return None
        judgement[score] = value
    reason = data.get("reason")
    judgement["reason"] = reason[:_MAX_REASON_CHARS] if isinstance(reason, str) else ""
    return judgement


def judge_score(judgement: dict[str, Any]) -> float | None:
    """The one score `generation.filters.FilterSettings.min_judge_score` is compared with: the lower of the two
    scores of a parsed judgement (a dialogue must be natural and correctly labelled), None when unparsable."""
    if judgement.get("status", "ok") != "ok":
        return None
    return float(min(judgement[score] for score in SCORES))


def read_judgements(path: str | Path) -> list[dict[str, Any]]:
    """The cached judgements; a torn last line (a write cut by a kill) is skipped, so it is judged again."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        try:  # bounded and strict; a line that is not UTF-8 (UnicodeDecodeError is a ValueError) is skipped too
            record = parse_json(line.decode("utf-8"), where=str(path), error=ValueError, line_offset=number - 1)
        except ValueError:
            continue
        if isinstance(record, dict) and "dialogue_id" in record and "judge_model" in record:
            records.append(record)
    return records


@dataclass
class JudgeOptions:
    """The LLM judge of `erc-synth quality` (one flag per field): which backend and model, and its few settings.

    Every other backend setting keeps the default of the backend's options (`generation.backends`).
    """

    judge_model: str | None = field(
        default=None, metadata={"help": "Enable the judge with this model (e.g. smollm2).", "metavar": "MODEL"}
    )
    judge_backend: str = field(default="transformers", metadata={"help": "Backend of the judge."})
    judge_device: str | None = field(
        default=None, metadata={"help": "Device of a local judge (transformers backend)."}
    )
    judge_base_url: str | None = field(
        default=None, metadata={"help": "Server of an openai-compatible judge (openai backend)."}
    )
    judge_batch_size: int = field(default=4, metadata={"help": "Dialogues judged at once."})
    judge_max_new_tokens: int = field(default=96, metadata={"help": "Longest judge answer in tokens."})

    def __post_init__(self) -> None:
        for name in ("judge_batch_size", "judge_max_new_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, but got {getattr(self, name)}.")

    def build_backend(self, num_threads: int | None = None) -> Any:
        """The judge's backend, built (not loaded); see `build_judge_backend`."""
        return build_judge_backend(
            self.judge_backend,
            self.judge_model or "",
            device=self.judge_device,
            base_url=self.judge_base_url,
            batch_size=self.judge_batch_size,
            num_threads=num_threads,
        )


def build_judge_backend(
    backend: str,
    model: str,
    *,
    device: str | None = None,
    base_url: str | None = None,
    batch_size: int = 4,
    num_threads: int | None = None,
) -> Any:
    """A generation backend for the judge, built (not loaded) by `build_backend`, as a generation run's is.

    Raises:
        ConfigError: the backend name is unknown, or an option cannot work (e.g. a device that does not exist).
    """
    settings = SimpleNamespace(backend=backend, model=model, batch_size=batch_size, num_threads=num_threads)
    if device is not None:
        settings.device = device
    if base_url is not None:
        settings.base_url = [base_url]
    return build_backend(settings)


def judge_dialogues(
    backend: Any,
    dialogues: Sequence[Dialogue],
    dialogue_ids: Sequence[str],
    benchmark: Benchmark,
    cache: str | Path,
    *,
    max_new_tokens: int = 96,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Judges every dialogue the cache lacks for this judge model, appending each judgement as it arrives.

    Args:
        backend: A generation backend (`build_judge_backend`, or any `generation.backends.Backend`); loaded here
            only when something is left to judge.
        dialogues: The dialogues.
        dialogue_ids: Their ids (the cache key with the judge's model name).
        benchmark: Gives the label names shown to the judge.
        cache: The JSONL cache file.
        max_new_tokens: The longest answer.
        seed: Base seed of the judge's sampling (one per dialogue).

    Returns:
        The judgements of `dialogue_ids` by this judge model, in their order (cached and new).
    """
    if len(dialogues) != len(dialogue_ids):
        raise ValueError(f"{len(dialogues)} dialogues but {len(dialogue_ids)} ids.")
    model = backend.model_name
    cache = Path(cache)
    done = {record["dialogue_id"]: record for record in read_judgements(cache) if record["judge_model"] == model}
    todo = [(index, key) for index, key in enumerate(dialogue_ids) if key not in done]
    if todo:
        backend.load()
        schema = JUDGE_SCHEMA if backend.supports_json_schema else None
        requests = [
            GenerationRequest(
                messages=judge_prompt(dialogues[index], benchmark), seed=seed + index, json_schema=schema, key=key
            )
            for index, key in todo
        ]
        sampling = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)
        with JsonlAppender(cache, fsync=True) as appender:
            for start in range(0, len(requests), max(1, backend.max_in_flight)):
                batch = requests[start : start + max(1, backend.max_in_flight)]
                for request, result in zip(batch, backend.generate(batch, sampling), strict=True):
                    judgement = None if result.error else parse_judgement(result.text)
                    record = {"dialogue_id": request.key, "judge_model": model}
                    if judgement is None:
                        record.update(status="unparsable", raw=(result.error or result.text)[:_RAW_CHARS])
                    else:
                        record.update(status="ok", **judgement)
                    appender.write(record)
                    done[request.key] = record
    return [done[key] for key in dialogue_ids]


def summarize_judgements(judgements: Sequence[dict[str, Any]], model: str) -> dict[str, Any]:
    """The report's `judge` section: mean and distribution of each score over the parsed judgements."""
    parsed = [record for record in judgements if record.get("status") == "ok"]
    means = {score: (sum(record[score] for record in parsed) / len(parsed) if parsed else None) for score in SCORES}
    histograms = {
        score: {str(value): sum(record[score] == value for record in parsed) for value in range(1, 6)}
        for score in SCORES
    }
    return {
        "model": model,
        "judged": len(judgements),
        "parsed": len(parsed),
        "unparsable": len(judgements) - len(parsed),
        "means": means,
        "histograms": histograms,
    }
