"""The prompt plan of a run: which prompt each index gets (sampling modes), its seeds, and the split into shards.

Everything here is a pure function of the settings and the index, so any process can compute any item without
holding the plan in memory (memory stays flat as the number of dialogues grows) and shards agree without talking.

- `natural`: no emotion pre-conditioning.
- `balanced`: index i targets label `labels[i % num_labels]`, so over the plan every label is the target of the
  same number of prompts (differing by at most one).
- persona conditioning (either mode): layered personas drawn with a seed derived from (run seed, index).
- turn counts (`turn_counts: reference`, either mode): the number of utterances asked for, drawn from the
  benchmark's real distribution with a seed derived from (run seed, index) (`generation.turns`).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

from erc_synth_datasets.benchmarks import Benchmark
from erc_synth_datasets.vocabulary import Mode

from .personas import PersonaPools, sample_persona
from .turns import TurnDistribution

__all__ = ["PlanItem", "PromptPlan", "derive_seed", "shard_indices"]


def derive_seed(run_seed: int, index: int | str, attempt: int, purpose: str = "sample") -> int:
    """A 63-bit seed from (run seed, plan index or dialogue id, attempt, purpose), stable across machines and Python
    versions."""
    digest = hashlib.sha256(f"erc-synth:{purpose}:{run_seed}:{index}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def shard_indices(num_dialogues: int, shard_index: int = 0, num_shards: int = 1) -> range:
    """The plan indices owned by one shard: every `num_shards`-th index starting at `shard_index`."""
    return range(shard_index, num_dialogues, num_shards)


@dataclass(frozen=True)
class PlanItem:
    """One planned dialogue.

    Args:
        index: Position in the run's plan (global across shards).
        mode: `natural` or `balanced`.
        target_emotion: The balanced target as a label name, or None.
        persona: The drawn personas and situation, or None.
        num_turns: The number of utterances this dialogue is asked for, or None (min_turns to max_turns).
    """

    index: int
    mode: str
    target_emotion: str | None
    persona: dict[str, Any] | None
    num_turns: int | None = None

    def persona_json(self) -> str | None:
        """The persona as stored in the `persona` column."""
        return None if self.persona is None else json.dumps(self.persona, ensure_ascii=False, sort_keys=True)


class PromptPlan:
    """Computes plan items on demand.

    Args:
        benchmark: The benchmark.
        mode: `natural` or `balanced`.
        run_seed: The run seed.
        persona_pools: Pools to draw personas from, or None for no persona conditioning.
        turn_distribution: The distribution each item's turn count is drawn from, or None (no count is drawn).
    """

    def __init__(
        self,
        benchmark: Benchmark,
        mode: str,
        run_seed: int,
        persona_pools: PersonaPools | None = None,
        turn_distribution: TurnDistribution | None = None,
    ) -> None:
        if mode not in Mode.values():
            raise ValueError(f"mode must be 'natural' or 'balanced', but got mode={mode!r}.")
        self.benchmark = benchmark
        self.mode = mode
        self.run_seed = run_seed
        self.persona_pools = persona_pools
        self.turn_distribution = turn_distribution

    def item(self, index: int) -> PlanItem:
        target = self.benchmark.labels[index % self.benchmark.num_labels] if self.mode == Mode.BALANCED else None
        persona = None
        if self.persona_pools is not None:
            rng = random.Random(derive_seed(self.run_seed, index, 0, purpose="persona"))
            persona = sample_persona(self.persona_pools, self.benchmark, rng)
        num_turns = None
        if self.turn_distribution is not None:
            num_turns = self.turn_distribution.draw(
                random.Random(derive_seed(self.run_seed, index, 0, purpose="turns"))
            )
        return PlanItem(index=index, mode=self.mode, target_emotion=target, persona=persona, num_turns=num_turns)
