"""Generation-time quality filters: a validated dialogue that is degenerate is rejected with a reason code.

Each filter is one reason code (`REASON_CODES`) in the run's rejection log. The measures are the quality report's
own (`erc_synth_datasets.quality.metrics`), so a filter and the report always agree on what they count. Defaults
are set so that each filter rejects at most about 1% of the real benchmarks' own training dialogues (the figures
and how they were measured are in docs/quality.md).

The near-duplicate filter holds the accepted dialogues of the run in a shingle index. That state is never stored
apart from the data: `DialogueFilter.from_accepted` rebuilds it from the accepted records, so it is exactly right
after a kill (the accepted JSONL is the source of truth) and after merging shards (rebuild from the merged
records, in order, to find duplicates across shards).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from erc_synth_datasets.benchmarks import Benchmark, get_benchmark
from erc_synth_datasets.configuration import check_fields
from erc_synth_datasets.quality.metrics import (
    ShingleIndex,
    follows_legend_order,
    is_repetitive,
    repeated_utterance_flags,
)
from erc_synth_datasets.runs import AcceptedRecord

__all__ = ["REASON_CODES", "DialogueFilter", "FilterSettings"]

#: Reason code -> one-line meaning, for rejection records and the docs.
REASON_CODES: dict[str, str] = {
    "repetitive_utterance": "too many utterances repeat their own phrases (too few distinct word trigrams)",
    "repeated_utterances": "too many utterances repeat an earlier utterance of the same dialogue",
    "legend_order": "the first labels step through the legend in order (1, 2, 3, 4 or 2, 3, 4, 5, ...)",
    "near_duplicate": "the dialogue is a near-duplicate of one already accepted in the run",
    "low_judge_score": "an LLM judge scored the dialogue below the minimum",
}


@dataclass
class FilterSettings:
    """Thresholds of the generation-time filters (fields of the generation config)."""

    filters: bool = field(
        default=True, metadata={"help": "Reject degenerate dialogues (repetition, legend order, near-duplicates)."}
    )
    repetitive_threshold: float = field(
        default=0.7,
        metadata={
            "range": "[0, 1]",
            "help": "An utterance is repetitive when its distinct word trigrams / trigrams are below this.",
        },
    )
    max_repetitive_share: float = field(
        default=0.2,
        metadata={
            "range": "[0, 1]",
            "help": "Reject a dialogue when more than this share of its utterances are repetitive.",
        },
    )
    max_repeated_share: float = field(
        default=0.2,
        metadata={
            "range": "[0, 1]",
            "help": "Reject a dialogue when more than this share of its utterances repeat an earlier one.",
        },
    )
    legend_run: int = field(
        default=4,
        metadata={
            "range": "[0, 1000]",
            "help": "Reject a dialogue whose first this-many labels step through the legend in order (0: off).",
        },
    )
    near_duplicate_jaccard: float | None = field(
        default=0.5,
        metadata={
            "range": "(0, 1]",
            "help": "Reject a dialogue whose word-trigram Jaccard similarity to an accepted one is at least this "
            "(null: off).",
        },
    )
    min_judge_score: float | None = field(
        default=None,
        metadata={"range": "[1, 5]", "help": "Reject a dialogue an LLM judge scores below this (null: no judge)."},
    )

    def __post_init__(self) -> None:
        check_fields(self)  # every number finite and within its field's "range" (a subclass's fields too)


class DialogueFilter:
    """Checks validated dialogues against the filters and remembers the accepted ones (near-duplicate state).

    Args:
        settings: The thresholds.
        benchmark: The benchmark (turns label names into ids).

    Example:
        >>> f = DialogueFilter(FilterSettings(), "meld")
        >>> f.check(["Ross", "Rachel"], ["Hi.", "Hi."], [0, 0])  # doctest: +ELLIPSIS
        ('repeated_utterances', ...)
    """

    def __init__(self, settings: FilterSettings, benchmark: Benchmark | str) -> None:
        self.settings = settings
        self.benchmark = get_benchmark(benchmark)
        threshold = settings.near_duplicate_jaccard
        self._index = ShingleIndex(threshold) if settings.filters and threshold is not None else None

    @classmethod
    def from_accepted(
        cls,
        settings: FilterSettings,
        benchmark: Benchmark | str,
        records: Iterable[AcceptedRecord | dict[str, Any]],
    ) -> DialogueFilter:
        """A filter whose near-duplicate state holds the given accepted records (in order), e.g. a run's accepted
        records after a restart (`erc_synth_datasets.runs.iter_accepted`), or those of every shard of a merge."""
        dialogue_filter = cls(settings, benchmark)
        for record in records:
            data = record if isinstance(record, dict) else record.to_dict()
            dialogue_filter.add(data["speakers"], data["utterances"], data["emotions"])
        return dialogue_filter

    def __len__(self) -> int:
        """Number of accepted dialogues remembered."""
        return len(self._index) if self._index is not None else 0

    def _label_ids(self, emotions: Sequence[int | str]) -> list[int]:
        return [label if isinstance(label, int) else self.benchmark.label_id(label) for label in emotions]

    def check(
        self,
        speakers: Sequence[str],
        utterances: Sequence[str],
        emotions: Sequence[int | str],
        judge_score: float | None = None,
    ) -> tuple[str, str] | None:
        """The first filter a dialogue fails, as (reason code, message), or None when it passes.

        Args:
            speakers: Speaker of each utterance.
            utterances: The utterances.
            emotions: Label ids (0-based, canonical order) or label names.
            judge_score: The dialogue's LLM-judge score, when a judge ran.
        """
        settings = self.settings
        if not settings.filters or not utterances:
            return None
        count = len(utterances)
        repetitive = [i for i, u in enumerate(utterances) if is_repetitive(u, threshold=settings.repetitive_threshold)]
        if len(repetitive) / count > settings.max_repetitive_share:
            return (
                "repetitive_utterance",
                f"{len(repetitive)} of {count} utterances are repetitive (turns {[i + 1 for i in repetitive]}); "
                f"max_repetitive_share={settings.max_repetitive_share}",
            )
        repeated = [i for i, flag in enumerate(repeated_utterance_flags(utterances)) if flag]
        if len(repeated) / count > settings.max_repeated_share:
            return (
                "repeated_utterances",
                f"{len(repeated)} of {count} utterances repeat an earlier one (turns {[i + 1 for i in repeated]}); "
                f"max_repeated_share={settings.max_repeated_share}",
            )
        if settings.legend_run and follows_legend_order(self._label_ids(emotions), min_run=settings.legend_run):
            return (
                "legend_order",
                f"the first {settings.legend_run} labels step through the legend in order",
            )
        if self._index is not None:
            match = self._index.best_match(utterances)
            if match is not None:
                return (
                    "near_duplicate",
                    f"word-trigram Jaccard similarity {match[1]:.2f} with accepted dialogue #{match[0] + 1} of "
                    f"this run; near_duplicate_jaccard={settings.near_duplicate_jaccard}",
                )
        if settings.min_judge_score is not None and judge_score is not None and judge_score < settings.min_judge_score:
            return ("low_judge_score", f"judge score {judge_score} < min_judge_score={settings.min_judge_score}")
        return None

    def add(self, speakers: Sequence[str], utterances: Sequence[str], emotions: Sequence[int | str]) -> None:
        """Remembers an accepted dialogue, so that later near-duplicates of it are rejected."""
        if self._index is not None:
            self._index.add(utterances)
