"""What to send next, and the order in which outputs become records.

Outputs arrive in any order (several requests in flight, continuous batching, many servers), so the rule that
makes a run reproducible does not depend on it: **outcomes are decided in plan order.**

- Plan indices are opened in order (this shard's indices `shard, shard + num_shards, ...`), at most `window` ahead
  of the lowest undecided one (the *frontier*), and only while the accepted dialogues plus the open indices fall
  short of the target. Each open index has at most one attempt in flight; attempt `a` has its own derived seed.
- An output is checked at once for everything that depends on its text alone (`GenerationTask.check`). When that
  fails, the next attempt at the same index is submitted at once (a retry goes to the front of the queue: lower
  indices first).
- Outcomes are decided at the frontier, index by index and attempt by attempt: there the duplicate check (against
  every dialogue accepted at a lower index) and the quality filter run, the record is handed to the writer, and
  the counts move. An index is settled when accepted or after `max_attempts` rejections; the run is complete when
  `target` dialogues are accepted, and stops (`budget_spent`) when `budget` attempts are decided first.

So the records, their order and the final set are a function of the settings and of each attempt's output (a
function of its seed) only. On resume, the records on disk are replayed through the same frontier (nothing is
regenerated or written twice), which continues where the files end; a larger target or budget continues the same
way. Outputs still in flight when the run ends are dropped (their tokens are counted, nothing is written).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from erc_synth_datasets.runs import AcceptedRecord, RejectionRecord, RunStatus

from .backends import GenerationRequest, GenerationResult
from .task import GenerationTask
from .validation import Verdict

__all__ = ["DialogueFilter", "DiskState", "Scheduler"]


class DialogueFilter(Protocol):
    """A quality filter that sees the accepted dialogues in plan order (`generation.filters.DialogueFilter`)."""

    def check(self, speakers: list[str], utterances: list[str], emotions: list[str]) -> tuple[str, str] | None:
        """The (reason code, message) of the first filter the dialogue fails, or None to accept."""

    def add(self, speakers: list[str], utterances: list[str], emotions: list[str]) -> None:
        """Records an accepted dialogue."""


@dataclass
class DiskAccepted:
    attempt: int
    fingerprint: str
    record: AcceptedRecord | None = None  # kept only when a filter must see it again


@dataclass
class DiskState:
    """What the run's files already hold: accepted (index -> attempt, fingerprint) and rejected attempts."""

    accepted: dict[int, DiskAccepted] = field(default_factory=dict)
    rejected: dict[int, set[int]] = field(default_factory=dict)


@dataclass
class _Outcome:
    request: GenerationRequest
    result: GenerationResult
    verdict: Verdict


@dataclass
class _OpenIndex:
    """A plan index being worked on: the next attempt to submit, the attempts decided, the outcomes waiting."""

    next_attempt: int = 0
    decided: int = 0
    in_flight: bool = False
    outcomes: dict[int, _Outcome] = field(default_factory=dict)


class Scheduler:
    """The request source of `Backend.stream` and the plan-order decision of outcomes (see the module docstring).

    Args:
        task: Builds requests, checks outputs and builds records.
        positions: This shard's plan indices, in order (may be endless).
        target: Accepted dialogues wanted.
        budget: Most attempts decided (records on disk included).
        max_attempts: Attempts per index before moving on.
        window: Most open indices at once.
        disk: The records already on disk.
        dialogue_filter: A quality filter, or None.
    """

    def __init__(
        self,
        task: GenerationTask,
        positions: Iterator[int],
        *,
        target: int,
        budget: int,
        max_attempts: int,
        window: int,
        disk: DiskState,
        dialogue_filter: DialogueFilter | None = None,
    ) -> None:
        self.task = task
        self.target, self.budget, self.max_attempts, self.window = target, budget, max_attempts, window
        self.disk = disk
        self.dialogue_filter = dialogue_filter
        self.status = RunStatus.RUNNING
        self.accepted = self.decided = 0
        self._positions = positions
        self._open: dict[int, _OpenIndex] = {}
        self._order: deque[int] = deque()
        self._queue: list[int] = []  # indices wanting a submission (a heap: lowest first)
        self._undecided = 0  # attempts submitted or waiting, not decided yet
        self._seen: set[str] = set()
        self._records: list[AcceptedRecord | RejectionRecord] = []
        self._pump()

    @property
    def finished(self) -> bool:
        return self.status is not RunStatus.RUNNING

    def next_request(self) -> GenerationRequest | None:
        """The next request to send: a retry at the lowest index first, then a new index; None when nothing now."""
        self._pump()
        while self._queue and self._queue[0] not in self._open:
            heapq.heappop(self._queue)  # settled while waiting (cannot happen by the rules above; kept safe)
        if self.finished or not self._queue:
            return None
        index = self._queue[0]
        if index != self._order[0] and self.decided + self._undecided >= self.budget:
            return None  # only the frontier may go beyond the budget's share of work in progress
        heapq.heappop(self._queue)
        slot = self._open[index]
        slot.in_flight = True
        self._undecided += 1
        return self.task.request(index, slot.next_attempt)

    def complete(self, request: GenerationRequest, result: GenerationResult) -> list[AcceptedRecord | RejectionRecord]:
        """Takes a finished request; returns the records decided since the last call, in plan order."""
        index, attempt = (int(part) for part in request.key.split(":"))
        slot = self._open.get(index)
        if slot is not None and not self.finished:
            slot.in_flight = False
            verdict = self.task.check(index, result)
            slot.outcomes[attempt] = _Outcome(request, result, verdict)
            if not verdict.ok and attempt + 1 < self.max_attempts:
                self._submit_later(index, slot, attempt + 1)
            self._pump()
        records, self._records = self._records, []
        return records

    # ------------------------------------------------------------------------------------------------- internals

    def _submit_later(self, index: int, slot: _OpenIndex, attempt: int) -> None:
        rejected = self.disk.rejected.get(index, ())
        while attempt in rejected:
            attempt += 1
        if attempt < self.max_attempts:
            slot.next_attempt = attempt
            heapq.heappush(self._queue, index)

    def _pump(self) -> None:
        while not self.finished and (self._open_next() or self._decide_next()):
            pass

    def _open_next(self) -> bool:
        """Opens the next plan index when the target, the window and the budget allow; True when one was opened."""
        wanted = self.accepted + len(self._order) < self.target
        if not wanted or len(self._order) >= self.window or self.decided + self._undecided >= self.budget:
            return False
        index = next(self._positions, None)
        if index is None:
            return False
        slot = _OpenIndex()
        self._open[index] = slot
        self._order.append(index)
        if index not in self.disk.accepted:
            self._submit_later(index, slot, 0)
        return True

    def _decide_next(self) -> bool:
        """Decides the frontier's next attempt when its outcome is known; True when something was decided."""
        if not self._order:
            self.status = RunStatus.COMPLETE if self.accepted >= self.target else self.status
            return False
        index = self._order[0]
        slot = self._open[index]
        attempt = slot.decided
        on_disk = self.disk.accepted.get(index)
        if on_disk is not None and on_disk.attempt == attempt:
            self._accept_from_disk(index, on_disk)
        elif attempt in self.disk.rejected.get(index, ()):
            self._count_rejection(index, slot)
        elif attempt in slot.outcomes and self.decided < self.budget:
            self._decide(index, slot, slot.outcomes.pop(attempt))
            self._undecided -= 1
        else:
            return False
        self._update_status()
        return True

    def _update_status(self) -> None:
        if self.accepted >= self.target:
            self.status = RunStatus.COMPLETE
        elif self.decided >= self.budget:
            self.status = RunStatus.BUDGET_SPENT

    def _accept_from_disk(self, index: int, on_disk: DiskAccepted) -> None:
        self._seen.add(on_disk.fingerprint)
        if self.dialogue_filter is not None and on_disk.record is not None:
            record = on_disk.record
            self.dialogue_filter.add(record.speakers, record.utterances, record.emotions)
        self._settle(index, accepted=True)

    def _count_rejection(self, index: int, slot: _OpenIndex) -> None:
        slot.decided += 1
        self.decided += 1
        if slot.decided >= self.max_attempts:
            self._settle(index, accepted=False)

    def _settle(self, index: int, *, accepted: bool) -> None:
        if accepted:
            self.accepted += 1
            self.decided += 1
        self._order.popleft()
        del self._open[index]

    def _decide(self, index: int, slot: _OpenIndex, outcome: _Outcome) -> None:
        verdict = self._final_verdict(outcome.verdict)
        attempt = slot.decided
        if verdict.ok and verdict.dialogue is not None:
            dialogue = verdict.dialogue
            self._seen.add(dialogue.fingerprint)
            if self.dialogue_filter is not None:
                self.dialogue_filter.add(dialogue.speakers, dialogue.utterances, dialogue.emotions)
            self._records.append(self.task.accepted(outcome.request, index, attempt, dialogue))
            self._settle(index, accepted=True)
            return
        self._records.append(self.task.rejected(outcome.request, index, attempt, outcome.result, verdict))
        self._count_rejection(index, slot)
        if index in self._open and not slot.in_flight and slot.next_attempt <= attempt:
            self._submit_later(index, slot, attempt + 1)  # rejected here (duplicate, filter): no retry is out yet

    def _final_verdict(self, verdict: Verdict) -> Verdict:
        """The checks that depend on the dialogues accepted before: duplicates, then the quality filter."""
        dialogue = verdict.dialogue
        if dialogue is None:
            return verdict
        if dialogue.fingerprint in self._seen:
            return Verdict(reason="duplicate", message="the same dialogue was already accepted at a lower index")
        if self.dialogue_filter is not None:
            failed = self.dialogue_filter.check(dialogue.speakers, dialogue.utterances, dialogue.emotions)
            if failed is not None:
                return Verdict(reason=failed[0], message=failed[1])
        return verdict
