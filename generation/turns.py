"""How many utterances each planned dialogue is asked for: a count drawn from the benchmark's real distribution.

With `turn_counts: reference` every plan item gets a turn count N, drawn from the real train split's
turns-per-dialogue histogram (aggregate counts stored with the registry's reference figures,
`erc_synth_datasets.quality.reference`; no benchmark file is read at generation time), clipped to
[min_turns, max_turns]: a real dialogue shorter than `min_turns` counts as `min_turns`, a longer one than `max_turns`
as `max_turns`, so the share of generated dialogues at `max_turns` matches the real share of dialogues at least that
long (what the quality report's `at_max_turns` compares). N is stated in the prompt and enforced by the JSON schema.

The draw of plan index i uses its own generator seeded with `derive_seed(run seed, i, 0, "turns")`, so it is a
pure function of (run seed, index, histogram, range): the same in every shard, on resume, and on every machine.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["TurnDistribution"]


@dataclass(frozen=True)
class TurnDistribution:
    """A distribution of turn counts within [min_turns, max_turns].

    Args:
        counts: Dialogues per turn count (only counts in the range, each > 0), in increasing order of turns.
    """

    counts: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if not self.counts or any(count <= 0 for _, count in self.counts):
            raise ValueError(f"A turn distribution needs at least one positive count, but got {dict(self.counts)}.")

    @classmethod
    def from_histogram(cls, histogram: Mapping[int, int], *, min_turns: int, max_turns: int) -> TurnDistribution:
        """The histogram with every turn count clipped to [min_turns, max_turns].

        Raises:
            ValueError: the histogram holds no dialogue.
        """
        if min_turns > max_turns:
            raise ValueError(f"Expected min_turns <= max_turns, but got {min_turns} > {max_turns}.")
        clipped: dict[int, int] = {}
        for turns, count in histogram.items():
            if count > 0:
                key = min(max(int(turns), min_turns), max_turns)
                clipped[key] = clipped.get(key, 0) + int(count)
        if not clipped:
            raise ValueError(f"The turns histogram holds no dialogue: {dict(histogram)}.")
        return cls(tuple(sorted(clipped.items())))

    def draw(self, rng: random.Random) -> int:
        """One turn count, with probability proportional to its count (one `rng.random()` per draw)."""
        cumulative = list(itertools.accumulate(count for _, count in self.counts))
        position = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
        return self.counts[min(position, len(self.counts) - 1)][0]

    def to_dict(self) -> dict[str, int]:
        """As stored in the run's settings: `{"2": 130, "3": 54, ...}`."""
        return {str(turns): count for turns, count in self.counts}
