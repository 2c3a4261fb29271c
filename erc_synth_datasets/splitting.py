"""Seeded, dialogue-level train/validation/test splits, made after generation so all splits share one distribution."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ErcSynthError
from .vocabulary import SPLITS

__all__ = ["SPLIT_NAMES", "SplitError", "SplitRatios", "split_counts", "split_dialogues"]

SPLIT_NAMES: tuple[str, ...] = SPLITS


class SplitError(ErcSynthError, ValueError):
    """Split ratios are invalid, or there are too few dialogues for the requested splits."""


@dataclass(frozen=True)
class SplitRatios:
    """Fractions of the dialogues that go to each split; they must sum to 1.

    Args:
        train: Fraction of dialogues in the `train` split.
        validation: Fraction of dialogues in the `validation` split.
        test: Fraction of dialogues in the `test` split.
    """

    train: float = field(default=0.8, metadata={"help": "Fraction of dialogues in the train split."})
    validation: float = field(default=0.1, metadata={"help": "Fraction of dialogues in the validation split."})
    test: float = field(default=0.1, metadata={"help": "Fraction of dialogues in the test split."})

    def __post_init__(self) -> None:
        values = self.as_dict()
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values.values())
        if not numbers or not all(math.isfinite(v) and 0 <= v <= 1 for v in values.values()) or self.train <= 0:
            raise SplitError(
                f"Every split ratio must be a finite number in [0, 1], train above 0, but got {values}; "
                "set --split-ratios to three fractions such as 0.8,0.1,0.1 (1,0,0 builds a train split only)."
            )
        if abs(sum(values.values()) - 1.0) > 1e-6:
            raise SplitError(
                f"Split ratios must sum to 1, but got {values} (sum {sum(values.values()):.6g}); "
                "set --split-ratios to three fractions such as 0.8,0.1,0.1."
            )

    @classmethod
    def parse(cls, text: str) -> SplitRatios:
        """Reads `"0.8,0.1,0.1"` (train, validation, test)."""
        parts = [p.strip() for p in str(text).split(",")]
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) != 3:
            raise SplitError(
                f"Expected three comma-separated fractions train,validation,test (e.g. 0.8,0.1,0.1), but got {text!r}."
            )
        return cls(*numbers)

    def as_dict(self) -> dict[str, float]:
        return dict(zip(SPLITS, (self.train, self.validation, self.test), strict=True))


def split_counts(num_dialogues: int, ratios: SplitRatios, *, min_per_split: int = 1) -> dict[str, int]:
    """How many dialogues each split gets: validation and test are rounded, train takes the rest.

    Raises:
        SplitError: a split would hold fewer than `min_per_split` dialogues.
    """
    validation = round(num_dialogues * ratios.validation)
    test = round(num_dialogues * ratios.test)
    counts = dict(zip(SPLITS, (num_dialogues - validation - test, validation, test), strict=True))
    wanted = {name for name, ratio in ratios.as_dict().items() if ratio > 0}
    short = {name: n for name, n in counts.items() if name in wanted and n < min_per_split}
    if short:
        needed = _fewest_dialogues(ratios, min_per_split)
        raise SplitError(
            f"Too few accepted dialogues for the requested splits: {num_dialogues} dialogues with ratios "
            f"{ratios.as_dict()} give {counts}, but every split with a ratio above 0 needs at least {min_per_split}. "
            f"Generate at least {needed} dialogues (raise --num-dialogues of `erc-synth generate`), "
            f"or change --split-ratios (1,0,0 builds a train split only, from {min_per_split} or more dialogues)."
        )
    return counts


def _fewest_dialogues(ratios: SplitRatios, min_per_split: int) -> int:
    """The fewest dialogues for which every split with a ratio above 0 gets `min_per_split` (searched upwards from a
    bound just below the answer: a split of ratio r holds about n * r dialogues, give or take one for rounding)."""
    positive = [ratio for ratio in ratios.as_dict().values() if ratio > 0]
    n = max(1, math.floor((min_per_split - 1) / min(positive)))
    while True:  # ends: train's ratio is above 0, so every count grows with n
        validation, test = round(n * ratios.validation), round(n * ratios.test)
        counts = (n - validation - test, validation, test)
        if all(
            count >= min_per_split for count, ratio in zip(counts, ratios.as_dict().values(), strict=True) if ratio > 0
        ):
            return n
        n += 1


def split_dialogues(
    dialogues: Sequence[dict[str, Any]],
    ratios: SplitRatios,
    *,
    seed: int,
    min_per_split: int = 1,
) -> dict[str, list[dict[str, Any]]]:
    """Assigns whole dialogues to splits with a seeded shuffle; the result does not depend on input order.

    Dialogues are first sorted by `dialogue_id`, then shuffled with `random.Random(seed)` (stable across Python
    versions for an integer seed), then cut by `split_counts`. Each split is returned sorted by `dialogue_id`.

    Args:
        dialogues: Rows with a unique `dialogue_id`.
        ratios: Fractions per split.
        seed: Seed of the shuffle.
        min_per_split: The fewest dialogues any split may hold.

    Returns:
        `{"train": [...], "validation": [...], "test": [...]}`.
    """
    ordered = sorted(dialogues, key=lambda row: row["dialogue_id"])
    ids = [row["dialogue_id"] for row in ordered]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        repeated = sorted({i for i in ids if i in seen or seen.add(i)})
        raise SplitError(f"Dialogue ids must be unique, but these repeat: {repeated[:5]}.")
    counts = split_counts(len(ordered), ratios, min_per_split=min_per_split)
    random.Random(seed).shuffle(ordered)
    out: dict[str, list[dict[str, Any]]] = {}
    start = 0
    for name in SPLIT_NAMES:
        part = ordered[start : start + counts[name]]
        out[name] = sorted(part, key=lambda row: row["dialogue_id"])
        start += counts[name]
    return out
