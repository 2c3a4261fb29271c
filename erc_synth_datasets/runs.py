"""The on-disk format of a generation run: typed manifest and records, their readers and writers.

This docstring is the specification. A *run directory* holds the output of one `erc-synth generate` invocation for
one shard (an unsharded run is shard 0 of 1), or the output of `erc-synth merge` (the same layout, as shard 0 of 1)::

    DIR/
      manifest.json                          settings, provenance and counts (rewritten atomically)
      accepted-00000-of-00001.jsonl          accepted dialogues, one JSON object a line (append-only)
      rejected-00000-of-00001.jsonl          rejected attempts, one JSON object a line (append-only)

File names carry the shard: `accepted-{shard_index:05d}-of-{num_shards:05d}.jsonl`. Readers take every file
matching `accepted*.jsonl` / `rejected*.jsonl` in name order, so a directory is read the same way whatever its
shard.

**Accepted records** (`AcceptedRecord`): the columns of the dialogue schema (`erc_synth_datasets.schema`:
`dialogue_id`, `speakers`, `utterances`, `emotions`, then the provenance columns), with `emotions` given as label
NAMES of the benchmark (its canonical label list is in the manifest), plus `index` (the dialogue's position in the
run's prompt plan, 0-based and global across shards) and `attempt` (which attempt at that index produced it; every
attempt has its own derived `seed`). Each `index` appears at most once among the accepted records of a run.

**Rejected records** (`RejectionRecord`): one per failed attempt: `index`, `attempt`, `seed`, `reason` (a code
listed in docs/generation.md), `message` (detail, with credentials redacted), `raw_text` (what the backend returned,
redacted likewise; empty when the backend reported an error), `prompt`, `target_emotion`, `completion_tokens`. Each
(`index`, `attempt`) pair appears at most once. Every attempt produces exactly one record, so
`attempts = accepted + rejected`.

**Crash safety.** The JSONL files are only ever appended to, one complete line per record followed by a flush; a
process killed mid-write leaves at most one torn (unterminated) last line, which readers skip and writers cut off
before appending again (`repair_jsonl`; the run reports what it cut, file and bytes, on stderr and in the
manifest's `repairs`). `manifest.json` is replaced atomically, so it is always the old or the new version. The JSONL
files are the source of truth; the manifest's counts are refreshed from them. A write that fails (a full disk)
raises `RunStorageError` naming the folder; what was written before it stays readable.

Text that cannot be encoded as UTF-8 (lone surrogates from a model's JSON escapes) never makes a record unwritable:
such a line is written with JSON `\\u` escapes instead.

**Manifest** (`RunManifest`, format version 2; version 1 manifests are read too): `status` (`RunStatus`),
`settings` and `settings_hash` (the settings that determine the data; a run directory is only ever continued with
the same hash), `plan_hash` (the same without the shard split), `runtime` (speed and connection settings, URLs
without credentials), `target` (`num_dialogues`, the accepted dialogues this shard aims for) and `attempt_budget`,
the provenance (`benchmark`, `mode`, `persona`, `backend`, `model`, `model_revision`, `prompt_version`,
`prompt_template`, `persona_version`, `json_schema`, `output_format`, `sampling`), `shard_index`, `num_shards`,
`counts` (`RunCounts`), `tokens` (`{"prompt", "completion"}`, every token processed), `elapsed_seconds`, `files`
(`{file name: complete records}`), `repairs`, `message`, `created_at`, `updated_at`, and for merges `merged_from`.
"""

from __future__ import annotations

import enum
import errno
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from .errors import ErcSynthError
from .files import parse_json, read_json_file, write_json_atomic

__all__ = [
    "ACCEPTED_COLUMNS",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "REJECTION_COLUMNS",
    "AcceptedRecord",
    "JsonlAppender",
    "RejectionRecord",
    "RunCounts",
    "RunFormatError",
    "RunManifest",
    "RunStatus",
    "RunStorageError",
    "accepted_file_name",
    "count_records",
    "encode_line",
    "iter_accepted",
    "iter_accepted_file",
    "iter_jsonl",
    "iter_rejected",
    "iter_rejected_file",
    "list_accepted_files",
    "list_rejected_files",
    "read_manifest",
    "rejected_file_name",
    "repair_jsonl",
    "storage_error",
    "utc_now",
    "write_manifest",
]

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MANIFEST_NAME = "manifest.json"


class RunStatus(str, enum.Enum):
    """Every status a run manifest can carry."""

    #: Generation is under way (or the process was killed: re-run to resume).
    RUNNING = "running"
    #: The target number of dialogues was accepted.
    COMPLETE = "complete"
    #: The backend or the disk failed; re-run to resume.
    STOPPED = "stopped"
    #: The attempt budget ran out before the target was reached; re-run with a larger budget to continue.
    BUDGET_SPENT = "budget_spent"
    #: A merge of shards that were not all complete (`erc-synth merge --allow-incomplete`).
    PARTIAL = "partial"


class RunFormatError(ErcSynthError, ValueError):
    """A run directory is missing, incomplete or corrupt (the message names the file and, where known, the line)."""


class RunStorageError(RunFormatError):
    """Writing a run file failed (a full disk, a file-size limit, a read-only folder)."""


def storage_error(path: Path, err: OSError) -> RunStorageError:
    """The one message for a failed write: which folder, why, and that what was written before is safe."""
    reason = err.strerror or type(err).__name__
    if err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        reason += " (the disk or the allowed file size is full)"
    return RunStorageError(
        f"Could not write {path.name!r} in {str(path.parent)!r}: {reason}. Everything accepted so far is safe in "
        f"{str(path.parent)!r}; free some space (or fix the folder's permissions), then re-run the same command to "
        "resume."
    )


@dataclass
class AcceptedRecord:
    """One accepted dialogue: the dialogue schema's columns, then its place in the plan (`index`, `attempt`).

    The dialogue columns are the keys of `erc_synth_datasets.schema.dialogue_features` in the same order (a test
    checks it), so that a build writes records as they are.
    """

    dialogue_id: str
    speakers: list[str]
    utterances: list[str]
    emotions: list[str]
    mode: str
    target_emotion: str | None
    persona: str | None
    generator_model: str
    sampling: dict[str, Any]
    seed: int
    prompt_version: str
    prompt: str
    index: int
    attempt: int

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "") -> AcceptedRecord:
        return _from_dict(cls, data, where)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RejectionRecord:
    """One failed attempt, with the reason code and the raw text the backend returned."""

    index: int
    attempt: int
    seed: int
    reason: str
    message: str
    raw_text: str
    prompt: str
    target_emotion: str | None
    completion_tokens: int

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "") -> RejectionRecord:
        return _from_dict(cls, data, where)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ACCEPTED_COLUMNS = tuple(f.name for f in fields(AcceptedRecord))
REJECTION_COLUMNS = tuple(f.name for f in fields(RejectionRecord))


def _from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    names = tuple(f.name for f in fields(cls))
    missing = [name for name in names if name not in data]
    if missing:
        raise RunFormatError(f"{where}: a {cls.__name__} needs the keys {list(names)}, but {missing} are missing.")
    return cls(**{name: data[name] for name in names})


@dataclass
class RunCounts:
    """Record counts of a run: `requested` is the target (accepted dialogues wanted from this shard)."""

    requested: int = 0
    accepted: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        return self.accepted + self.rejected

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "attempts": self.attempts,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunCounts:
        return cls(
            requested=int(data.get("requested", 0)),
            accepted=int(data.get("accepted", 0)),
            rejected=int(data.get("rejected", 0)),
            rejected_by_reason={str(k): int(v) for k, v in (data.get("rejected_by_reason") or {}).items()},
        )


_REQUIRED_MANIFEST_KEYS = ("format_version", "settings_hash", "benchmark", "mode", "counts")


@dataclass
class RunManifest:
    """`manifest.json` of a run directory (see the module docstring)."""

    settings_hash: str
    benchmark: dict[str, Any]
    mode: str
    format_version: int = FORMAT_VERSION
    status: RunStatus = RunStatus.RUNNING
    settings: dict[str, Any] = field(default_factory=dict)
    plan_hash: str = ""
    runtime: dict[str, Any] = field(default_factory=dict)
    target: int = 0
    attempt_budget: int = 0
    persona: bool = False
    backend: str = ""
    model: str | None = None
    model_revision: str | None = None
    prompt_version: str | None = None
    prompt_template: str | None = None
    persona_version: str | None = None
    json_schema: dict[str, Any] | None = None
    output_format: str = "json"
    sampling: dict[str, Any] = field(default_factory=dict)
    shard_index: int = 0
    num_shards: int = 1
    counts: RunCounts = field(default_factory=RunCounts)
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    elapsed_seconds: float = 0.0
    files: dict[str, int] = field(default_factory=dict)
    repairs: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    merged_from: list[dict[str, Any]] | None = None
    created_at: str = ""
    updated_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of `manifest.json`: version and status first, then the fields in definition order."""
        data = {"format_version": self.format_version, "status": self.status.value}
        data.update((f.name, getattr(self, f.name)) for f in fields(self) if f.name not in data)
        data["counts"] = self.counts.to_dict()
        if self.merged_from is None:
            del data["merged_from"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = MANIFEST_NAME) -> RunManifest:
        missing = [key for key in _REQUIRED_MANIFEST_KEYS if key not in data]
        if missing:
            raise RunFormatError(f"{where} lacks required keys {missing}.")
        if data["format_version"] not in READABLE_VERSIONS:
            raise RunFormatError(
                f"{where} has format_version={data['format_version']!r}, but this erc-synth reads versions "
                f"{list(READABLE_VERSIONS)}; upgrade erc-synth."
            )
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        try:
            values["status"] = RunStatus(data.get("status", RunStatus.RUNNING.value))
        except ValueError:
            allowed = [status.value for status in RunStatus]
            raise RunFormatError(f"{where}: status {data.get('status')!r} is not one of {allowed}.") from None
        values["counts"] = RunCounts.from_dict(data["counts"] or {})
        return cls(**values)


def accepted_file_name(shard_index: int = 0, num_shards: int = 1) -> str:
    """Name of the accepted-dialogues file of one shard: `accepted-00000-of-00001.jsonl`."""
    return f"accepted-{shard_index:05d}-of-{num_shards:05d}.jsonl"


def rejected_file_name(shard_index: int = 0, num_shards: int = 1) -> str:
    """Name of the rejections file of one shard: `rejected-00000-of-00001.jsonl`."""
    return f"rejected-{shard_index:05d}-of-{num_shards:05d}.jsonl"


def utc_now() -> str:
    """The current time as ISO 8601 in UTC, as stored in manifests."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_dir(run_dir: str | Path) -> Path:
    path = Path(run_dir)
    if not path.is_dir():
        raise RunFormatError(
            f"Run directory {str(path)!r} does not exist or is not a directory; pass the --output-dir folder of an "
            "`erc-synth generate` or `erc-synth merge` run."
        )
    return path


def read_manifest(run_dir: str | Path) -> RunManifest:
    """Reads `manifest.json` of a run directory.

    Args:
        run_dir: The run directory (the `--output` of `erc-synth generate` or `erc-synth merge`).

    Raises:
        RunFormatError: the directory or its manifest is missing, is not valid JSON, lacks required keys, or has a
            format version or status this version does not know.
    """
    path = _check_dir(run_dir) / MANIFEST_NAME
    if not path.exists():
        raise RunFormatError(
            f"{str(path)!r} does not exist: {str(path.parent)!r} is not a generation run directory "
            "(expected manifest.json next to accepted-*.jsonl)."
        )
    # Bounded and strict, as every file a user hands a command: binary, deep, huge numbers, a key twice.
    data = read_json_file(path, what="Run manifest", error=RunFormatError)
    return RunManifest.from_dict(data, where=repr(str(path)))


def write_manifest(run_dir: str | Path, manifest: RunManifest) -> None:
    """Atomically replaces `manifest.json` in `run_dir`.

    Raises:
        RunStorageError: the write failed (full disk, read-only folder).
    """
    path = Path(run_dir) / MANIFEST_NAME
    try:
        write_json_atomic(path, manifest.to_dict())
    except OSError as err:
        raise storage_error(path, err) from None


def list_accepted_files(run_dir: str | Path) -> list[Path]:
    """The accepted-dialogue files of a run directory, in name order."""
    return sorted(_check_dir(run_dir).glob("accepted*.jsonl"))


def list_rejected_files(run_dir: str | Path) -> list[Path]:
    """The rejection files of a run directory, in name order."""
    return sorted(_check_dir(run_dir).glob("rejected*.jsonl"))


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yields the JSON objects of a JSONL file, skipping a torn last line left by a killed writer.

    A line that does not parse is tolerated only when it is the last one and lacks its newline (an interrupted
    append); anywhere else it is corruption.

    Raises:
        RunFormatError: a complete line is not a JSON object (the message names the file and line).
    """
    path = Path(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                # The final, unterminated line: an append cut short by a kill. Never part of the data.
                return
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise RunFormatError(f"{str(path)}:{number}: not valid UTF-8 ({err.reason}).") from None
            record = parse_json(line, where=str(path), error=RunFormatError, line_offset=number - 1)
            if not isinstance(record, dict):
                raise RunFormatError(f"{str(path)}:{number}: expected a JSON object, but got {type(record).__name__}.")
            yield record


def _iter_typed(paths: list[Path], cls: type) -> Iterator[Any]:
    for path in paths:
        for number, record in enumerate(iter_jsonl(path), start=1):
            yield cls.from_dict(record, where=f"{path}: record {number}")


def iter_accepted(run_dir: str | Path) -> Iterator[AcceptedRecord]:
    """Yields the accepted dialogues of a run directory, file by file in name order, each file in write order
    (plan-index order for a run and for a merge). Memory use does not grow with the size of the run.

    Raises:
        RunFormatError: the directory does not exist or a file is corrupt (a torn last line is skipped, not an error).
    """
    yield from _iter_typed(list_accepted_files(run_dir), AcceptedRecord)


def iter_rejected(run_dir: str | Path) -> Iterator[RejectionRecord]:
    """Yields the rejection records of a run directory (see `iter_accepted`)."""
    yield from _iter_typed(list_rejected_files(run_dir), RejectionRecord)


def iter_accepted_file(path: str | Path) -> Iterator[AcceptedRecord]:
    """Yields the accepted records of one shard file; none when it does not exist."""
    yield from _iter_typed([Path(path)] if Path(path).exists() else [], AcceptedRecord)


def iter_rejected_file(path: str | Path) -> Iterator[RejectionRecord]:
    """Yields the rejection records of one shard file; none when it does not exist."""
    yield from _iter_typed([Path(path)] if Path(path).exists() else [], RejectionRecord)


def count_records(path: str | Path) -> int:
    """Number of complete (newline-terminated, non-blank) lines of a JSONL file; 0 when it does not exist."""
    path = Path(path)
    if not path.exists():
        return 0
    count = 0
    with path.open("rb") as handle:
        for raw in handle:
            if raw.endswith(b"\n") and raw.strip():
                count += 1
    return count


def _last_newline_end(handle: IO[bytes], size: int) -> int:
    """The offset just after the last newline of the file (0 when there is none), scanning backwards in blocks."""
    block = 1 << 16
    end = size
    while end > 0:
        start = max(0, end - block)
        handle.seek(start)
        position = handle.read(end - start).rfind(b"\n")
        if position >= 0:
            return start + position + 1
        end = start
    return 0


def repair_jsonl(path: str | Path) -> int:
    """Cuts off a torn (unterminated) last line so that appending can continue safely.

    Returns:
        The number of bytes removed (0 when the file was intact or absent).
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return 0
    size = path.stat().st_size
    with path.open("rb+") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        keep = _last_newline_end(handle, size)
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return size - keep


def encode_line(record: dict[str, Any]) -> bytes:
    """One JSONL line; text that UTF-8 cannot encode (lone surrogates) is written with `\\u` escapes instead."""
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


class JsonlAppender:
    """Append-only JSONL writer: one complete line per record, flushed (and optionally fsynced) at once.

    Opening repairs a torn last line first (`repaired_bytes` says how many bytes were cut). A failed write is undone
    (the file is cut back to its last complete line) and raised as `RunStorageError`.

    Args:
        path: The JSONL file (created when absent).
        fsync: Also `os.fsync` after every `write_many` (survives a power loss, not only a killed process).
    """

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.repaired_bytes = repair_jsonl(self.path)
            self._handle: IO[bytes] | None = self.path.open("ab")
        except OSError as err:
            raise storage_error(self.path, err) from None
        self._fsync = fsync

    def write(self, record: AcceptedRecord | RejectionRecord | dict[str, Any]) -> None:
        self.write_many([record])

    def write_many(self, records: list[AcceptedRecord | RejectionRecord | dict[str, Any]]) -> None:
        """Appends the records, each as one line written whole, then flushes.

        Raises:
            RunStorageError: a write failed; the file keeps every complete line written before.
        """
        if self._handle is None:
            raise RunFormatError(f"{str(self.path)!r} is closed.")
        for record in records:
            line = encode_line(record if isinstance(record, dict) else record.to_dict())
            start = self._handle.tell()
            try:
                self._handle.write(line)
                self._handle.flush()
            except OSError as err:
                self._undo(start)
                raise storage_error(self.path, err) from None
        if self._fsync and records:
            os.fsync(self._handle.fileno())

    def _undo(self, start: int) -> None:
        """Drops a partly written line (best effort: a torn line left behind is repaired on the next open)."""
        handle, self._handle = self._handle, None
        try:
            handle.close()
        except OSError:
            pass
        try:
            os.truncate(self.path, start)
        except OSError:
            pass

    def close(self) -> None:
        if self._handle is not None:
            try:
                self._handle.close()
            except OSError as err:
                raise storage_error(self.path, err) from None
            finally:
                self._handle = None

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
