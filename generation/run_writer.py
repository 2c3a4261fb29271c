"""The writer of one run shard: it owns the shard's files, its counts and its manifest.

Records are appended the moment the scheduler decides them; the manifest is rewritten atomically at most every
`manifest_interval` seconds while running and once at the end (the JSONL files are the source of truth, so a
manifest that lags behind a killed process loses nothing).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from erc_synth_datasets.runs import (
    AcceptedRecord,
    JsonlAppender,
    RejectionRecord,
    RunManifest,
    RunStatus,
    accepted_file_name,
    iter_accepted_file,
    iter_rejected_file,
    rejected_file_name,
    utc_now,
    write_manifest,
)

from .scheduler import DiskAccepted, DiskState
from .validation import dialogue_fingerprint

__all__ = ["RunWriter"]


class RunWriter:
    """Appends records to a shard's files, keeps the counts, and saves the manifest.

    Args:
        run_dir: The run directory (created).
        manifest: The manifest to keep up to date (counts, tokens, files, status, repairs).
        log: Where to report repairs (default: stderr).
        manifest_interval: Least seconds between two manifest writes while running.
    """

    def __init__(
        self,
        run_dir: Path,
        manifest: RunManifest,
        *,
        log: Callable[[str], None] | None = None,
        manifest_interval: float = 1.0,
    ) -> None:
        self.run_dir = run_dir
        self.manifest = manifest
        self.log = log or (lambda message: print(message, file=sys.stderr))
        self.manifest_interval = manifest_interval
        self.accepted_path = run_dir / accepted_file_name(manifest.shard_index, manifest.num_shards)
        self.rejected_path = run_dir / rejected_file_name(manifest.shard_index, manifest.num_shards)
        self.accepted = 0
        self.by_reason: Counter[str] = Counter()
        self._started = time.monotonic()
        self._elapsed_before = manifest.elapsed_seconds
        self._saved_at = 0.0
        self._accepted_out: JsonlAppender | None = None
        self._rejected_out: JsonlAppender | None = None

    @property
    def rejected(self) -> int:
        return sum(self.by_reason.values())

    def open(self, *, keep_records: bool = False) -> DiskState:
        """Repairs torn last lines (reported on the log and in the manifest), reads what the files hold, and opens
        them for appending.

        Args:
            keep_records: Keep the accepted records in the returned state (a quality filter must see them again).
        """
        self._accepted_out = self._open_appender(self.accepted_path)
        self._rejected_out = self._open_appender(self.rejected_path)
        state = DiskState()
        for record in iter_accepted_file(self.accepted_path):
            fingerprint = dialogue_fingerprint(record.speakers, record.utterances)
            state.accepted[record.index] = DiskAccepted(record.attempt, fingerprint, record if keep_records else None)
        for rejection in iter_rejected_file(self.rejected_path):
            state.rejected.setdefault(rejection.index, set()).add(rejection.attempt)
            self.by_reason[rejection.reason] += 1
        self.accepted = len(state.accepted)
        return state

    def _open_appender(self, path: Path) -> JsonlAppender:
        appender = JsonlAppender(path)
        if appender.repaired_bytes:
            self.log(
                f"Repaired {str(path)!r}: cut a torn last line of {appender.repaired_bytes} bytes (an append cut "
                "short by a kill); the record it held is generated again."
            )
            self.manifest.repairs.append({"file": path.name, "bytes": appender.repaired_bytes, "at": utc_now()})
        return appender

    def write(self, record: AcceptedRecord | RejectionRecord) -> None:
        """Appends one decided record to its file."""
        if isinstance(record, AcceptedRecord):
            assert self._accepted_out is not None, "open() first"
            self._accepted_out.write(record)
            self.accepted += 1
        else:
            assert self._rejected_out is not None, "open() first"
            self._rejected_out.write(record)
            self.by_reason[record.reason] += 1

    def add_tokens(self, prompt: int, completion: int) -> None:
        self.manifest.tokens["prompt"] = self.manifest.tokens.get("prompt", 0) + prompt
        self.manifest.tokens["completion"] = self.manifest.tokens.get("completion", 0) + completion

    def save(self, status: RunStatus, *, message: str = "", force: bool = True) -> None:
        """Writes the manifest with the current counts (skipped when `force` is False and the last write is recent)."""
        now = time.monotonic()
        if not force and now - self._saved_at < self.manifest_interval:
            return
        manifest = self.manifest
        manifest.status = status
        manifest.message = message
        manifest.counts.accepted = self.accepted
        manifest.counts.rejected = self.rejected
        manifest.counts.rejected_by_reason = dict(self.by_reason)
        manifest.files = {self.accepted_path.name: self.accepted, self.rejected_path.name: self.rejected}
        manifest.elapsed_seconds = round(self._elapsed_before + now - self._started, 3)
        manifest.updated_at = utc_now()
        write_manifest(self.run_dir, manifest)
        self._saved_at = now

    def close(self) -> None:
        for appender in (self._accepted_out, self._rejected_out):
            if appender is not None:
                appender.close()
        self._accepted_out = self._rejected_out = None
