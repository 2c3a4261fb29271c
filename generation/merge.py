"""`erc-synth merge`: join the shard directories of a run split with `--num-shards` into one run directory.

    erc-synth merge runs/meld/shard-0 runs/meld/shard-1 --output runs/meld

Every shard must come from the same plan (same settings but the shard index) and together they must cover each shard
index exactly once. Accepted dialogues are written in plan-index order; a dialogue identical to one with a lower
index in another shard becomes a `duplicate` rejection. The result has the layout of an unsharded run (shard 0 of 1,
see `erc_synth_datasets.runs`), with `merged_from` naming the shards; merging shards that are not all complete
(`--allow-incomplete`) gives status `partial`.
"""

from __future__ import annotations

import dataclasses
import heapq
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from erc_synth_datasets.errors import ErcSynthError
from erc_synth_datasets.runs import (
    AcceptedRecord,
    JsonlAppender,
    RejectionRecord,
    RunCounts,
    RunManifest,
    RunStatus,
    accepted_file_name,
    iter_accepted,
    iter_rejected,
    read_manifest,
    rejected_file_name,
    utc_now,
    write_manifest,
)

from .config import settings_hash
from .validation import dialogue_fingerprint

__all__ = ["MergeError", "MergeOptions", "merge_runs"]


class MergeError(ErcSynthError, ValueError):
    """The shard directories cannot be merged (different plans, missing or repeated shards, unfinished shards)."""


def _indexed(run_dir: Path) -> Iterator[tuple[int, int, AcceptedRecord]]:
    for order, record in enumerate(iter_accepted(run_dir)):
        yield record.index, order, record


def _check_shards(paths: list[Path], manifests: list[RunManifest], allow_incomplete: bool) -> list[str]:
    """Checks that the shards form one plan, each shard once; returns the shards that are not complete."""
    plans = {m.plan_hash for m in manifests}
    if len(plans) != 1:
        raise MergeError(
            "The shards come from different plans (settings other than the shard index differ): "
            + ", ".join(f"{p}: plan_hash={m.plan_hash[:12] or '?'}" for p, m in zip(paths, manifests, strict=True))
        )
    num_shards = {m.num_shards for m in manifests}
    if len(num_shards) != 1:
        raise MergeError(f"The shards disagree on num_shards: {sorted(num_shards)}.")
    total = num_shards.pop()
    found = sorted(m.shard_index for m in manifests)
    if found != list(range(total)):
        missing = sorted(set(range(total)) - set(found))
        repeated = sorted({i for i in found if found.count(i) > 1})
        raise MergeError(
            f"Expected shards 0..{total - 1} once each, but got shard indices {found} "
            f"(missing {missing}, repeated {repeated})."
        )
    unfinished = [str(p) for p, m in zip(paths, manifests, strict=True) if m.status is not RunStatus.COMPLETE]
    if unfinished and not allow_incomplete:
        raise MergeError(
            f"Shards not complete: {unfinished}; finish them (re-run their generate command) or pass "
            "--allow-incomplete."
        )
    return unfinished


def _duplicate(record: AcceptedRecord) -> RejectionRecord:
    return RejectionRecord(
        index=record.index,
        attempt=record.attempt,
        seed=record.seed,
        reason="duplicate",
        message="identical to a dialogue with a lower index in another shard (merge)",
        raw_text="",
        prompt=record.prompt,
        target_emotion=record.target_emotion,
        completion_tokens=0,
    )


def _write_records(paths: list[Path], scratch: Path) -> RunCounts:
    """Writes the shards' records into `scratch` (accepted in plan-index order, cross-shard duplicates rejected)."""
    counts = RunCounts()
    reasons: Counter[str] = Counter()
    seen: set[str] = set()
    with (
        JsonlAppender(scratch / accepted_file_name(0, 1)) as accepted_out,
        JsonlAppender(scratch / rejected_file_name(0, 1)) as rejected_out,
    ):
        for path in paths:
            for rejection in iter_rejected(path):
                rejected_out.write(rejection)
                reasons[rejection.reason] += 1
        for _, _, record in heapq.merge(*(_indexed(p) for p in paths), key=lambda entry: (entry[0], entry[1])):
            fingerprint = dialogue_fingerprint(record.speakers, record.utterances)
            if fingerprint in seen:
                rejected_out.write(_duplicate(record))
                reasons["duplicate"] += 1
                continue
            seen.add(fingerprint)
            accepted_out.write(record)
            counts.accepted += 1
    counts.rejected = sum(reasons.values())
    counts.rejected_by_reason = dict(reasons)
    return counts


def merge_runs(shard_dirs: list[str | Path], output: str | Path, *, allow_incomplete: bool = False) -> RunManifest:
    """Merges shard run directories into `output` (which must not exist or be empty).

    Args:
        shard_dirs: One run directory per shard.
        output: The merged run directory.
        allow_incomplete: Merge shards whose status is not `complete` (a partial dataset, status `partial`).

    Returns:
        The merged manifest.

    Raises:
        MergeError: the shards do not form one complete plan, or `output` is not empty.
        RunFormatError: a shard directory is not a run.
    """
    if not shard_dirs:
        raise MergeError("Give at least one shard directory to merge.")
    paths = [Path(p) for p in shard_dirs]
    manifests = [read_manifest(p) for p in paths]
    unfinished = _check_shards(paths, manifests, allow_incomplete)
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise MergeError(f"--output-dir {str(output)!r} exists and is not empty; choose a new directory.")
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.merging."))
    try:
        counts = _write_records(paths, scratch)
        manifest = _merged_manifest(paths, manifests, counts, partial=bool(unfinished))
        write_manifest(scratch, manifest)
        if output.exists():
            output.rmdir()
        scratch.rename(output)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return manifest


def _merged_manifest(
    paths: list[Path], manifests: list[RunManifest], counts: RunCounts, *, partial: bool
) -> RunManifest:
    settings = dict(manifests[0].settings, shard_index=0, num_shards=1)
    counts.requested = sum(m.counts.requested for m in manifests)
    return dataclasses.replace(
        manifests[0],
        status=RunStatus.PARTIAL if partial else RunStatus.COMPLETE,
        settings=settings,
        settings_hash=settings_hash(settings),
        shard_index=0,
        num_shards=1,
        target=sum(m.target for m in manifests),
        attempt_budget=sum(m.attempt_budget for m in manifests),
        counts=counts,
        tokens={key: sum(int(m.tokens.get(key, 0)) for m in manifests) for key in ("prompt", "completion")},
        elapsed_seconds=round(sum(m.elapsed_seconds for m in manifests), 3),
        files={accepted_file_name(0, 1): counts.accepted, rejected_file_name(0, 1): counts.rejected},
        repairs=[],
        message="",
        merged_from=[
            {"path": str(p), "shard_index": m.shard_index, "settings_hash": m.settings_hash}
            for p, m in zip(paths, manifests, strict=True)
        ],
        updated_at=utc_now(),
    )


@dataclass
class MergeOptions:
    """Options of `erc-synth merge`."""

    shards: list[str] = field(
        metadata={"help": "The shard run directories (one per shard index).", "positional": True, "nargs": "+"}
    )
    output_dir: str = field(metadata={"help": "The merged run directory (must not exist or be empty)."})
    allow_incomplete: bool = field(default=False, metadata={"help": "Merge shards that are not complete."})
