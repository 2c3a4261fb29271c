"""The on-disk layout of a generation run, and its readers. This docstring is the specification.

A *run directory* holds the output of one `erc-synth generate` invocation for one shard (an unsharded run is shard
0 of 1), or the output of `erc-synth merge` (which has the same layout, as shard 0 of 1)::

    DIR/
      manifest.json                          settings, provenance and counts (rewritten atomically)
      accepted-00000-of-00001.jsonl          accepted dialogues, one JSON object a line (append-only)
      rejected-00000-of-00001.jsonl          rejected attempts, one JSON object a line (append-only)

File names carry the shard: `accepted-{shard_index:05d}-of-{num_shards:05d}.jsonl`. Readers take every file
matching `accepted*.jsonl` / `rejected*.jsonl` in name order, so a directory is read the same way whatever its
shard.

**Accepted records** (`accepted*.jsonl`): exactly the columns of `erc_synth_datasets.schema.dialogue_features`
(`dialogue_id`, `speakers`, `utterances`, `emotions`, `mode`, `target_emotion`, `persona`, `generator_model`,
`sampling`, `seed`, `prompt_version`, `prompt`), with `emotions` given as label NAMES of the benchmark (its
canonical label list is in the manifest), plus

- `index`: the dialogue's position in the run's prompt plan (0-based, global across shards),
- `attempt`: which attempt at that index produced it (0 = the first; every attempt has its own derived `seed`).

Each `index` appears at most once among the accepted records of a run. A record is written only once fully
validated (see `generation.validation`).

**Rejected records** (`rejected*.jsonl`): one per failed attempt, with keys `index`, `attempt`, `seed`, `reason`
(a code from `generation.validation.REASONS`), `message` (human-readable detail), `raw_text` (exactly what the
backend returned, empty when the backend reported an error), `prompt` (the exact prompt text), `target_emotion`
and `completion_tokens`. Each (`index`, `attempt`) pair appears at most once.

Every attempt produces exactly one record, so `attempts = accepted + rejected`.

**Crash safety.** The JSONL files are only ever appended to, one complete line per `write` followed by a flush;
a process killed mid-write can leave at most one torn (unterminated) last line, which readers skip and writers cut
off before appending again (`repair_jsonl`). `manifest.json` is replaced atomically (temporary file + `os.replace`),
so it is always either the old or the new version. The JSONL files are the source of truth for what was accepted;
the manifest's counts are refreshed from them.

**Manifest** (`manifest.json`), a JSON object with at least:

- `format_version` (int, currently 1), `status` (`"running"`, `"complete"`, `"stopped"` after a backend failure),
- `settings`: the generation settings that determine the data, and `settings_hash` (sha256 of their canonical
  JSON); a run directory is only ever continued with the same hash,
- `runtime`: settings that change speed but not the meaning of the data (batch size, device, dtype, ...),
- `benchmark`: `Benchmark.to_dict()` of the benchmark the dialogues follow (labels in canonical order),
- `mode` (`"natural"` or `"balanced"`), `persona` (bool), `backend`, `model`, `model_revision`,
- `prompt_version`, `prompt_template` (the full template text used), `json_schema` (the enforced output schema,
  or null when the line format was used), `output_format` (`"json"` or `"lines"`),
- `shard_index`, `num_shards`,
- `counts`: `{"requested", "accepted", "rejected", "attempts"}` (`requested` = plan indices owned by this shard),
- `tokens`: `{"prompt", "completion"}` (every token the backend processed, retried and re-generated work included),
- `elapsed_seconds` (summed over every session that worked on the run),
- `files`: `{file name: number of complete records}` for every JSONL file of the run,
- `created_at`, `updated_at` (ISO 8601, UTC).

Merged directories also carry `merged_from` (the shard directories and their settings hashes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from erc_synth_datasets.files import write_json_atomic

__all__ = [
    "ACCEPTED_EXTRA_COLUMNS",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "REJECTED_COLUMNS",
    "JsonlAppender",
    "RunFormatError",
    "accepted_file_name",
    "count_records",
    "iter_accepted",
    "iter_jsonl",
    "iter_rejected",
    "list_accepted_files",
    "list_rejected_files",
    "read_manifest",
    "rejected_file_name",
    "repair_jsonl",
    "utc_now",
    "write_json_atomic",
    "write_manifest",
]

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
ACCEPTED_EXTRA_COLUMNS = ("index", "attempt")
REJECTED_COLUMNS = (
    "index",
    "attempt",
    "seed",
    "reason",
    "message",
    "raw_text",
    "prompt",
    "target_emotion",
    "completion_tokens",
)


class RunFormatError(ValueError):
    """A run directory is missing, incomplete or corrupt (the message names the file and, where known, the line)."""


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
            f"Run directory {str(path)!r} does not exist or is not a directory; pass the --output folder of an "
            "`erc-synth generate` or `erc-synth merge` run."
        )
    return path


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """Reads `manifest.json` of a run directory.

    Args:
        run_dir: The run directory (the `--output` of `erc-synth generate` or `erc-synth merge`).

    Returns:
        The manifest as a dict (see the module docstring for its keys).

    Raises:
        RunFormatError: the directory or its manifest is missing, is not valid JSON, or lacks required keys.
    """
    path = _check_dir(run_dir) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFormatError(
            f"{str(path)!r} does not exist: {str(path.parent)!r} is not a generation run directory "
            "(expected manifest.json next to accepted-*.jsonl)."
        ) from None
    except json.JSONDecodeError as err:
        raise RunFormatError(f"{str(path)!r} is not valid JSON ({err}).") from None
    if not isinstance(data, dict):
        raise RunFormatError(f"{str(path)!r} must hold a JSON object, but got {type(data).__name__}.")
    missing = [key for key in ("format_version", "settings_hash", "benchmark", "mode", "counts") if key not in data]
    if missing:
        raise RunFormatError(f"{str(path)!r} lacks required keys {missing}.")
    if data["format_version"] > FORMAT_VERSION:
        raise RunFormatError(
            f"{str(path)!r} has format_version={data['format_version']}, but this erc-synth reads up to "
            f"{FORMAT_VERSION}; upgrade erc-synth."
        )
    return data


def write_manifest(run_dir: str | Path, manifest: dict[str, Any]) -> None:
    """Atomically replaces `manifest.json` in `run_dir`."""
    write_json_atomic(Path(run_dir) / MANIFEST_NAME, manifest)


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
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise RunFormatError(f"{str(path)}:{number}: not a valid JSON line ({err}).") from None
            if not isinstance(record, dict):
                raise RunFormatError(f"{str(path)}:{number}: expected a JSON object, but got {type(record).__name__}.")
            yield record


def iter_accepted(run_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Yields the accepted dialogues of a run directory (see the module docstring for the keys of each record).

    Records come file by file in name order and, within a file, in the order they were written (plan index order
    for a run and for a merge). Memory use does not grow with the size of the run.

    Args:
        run_dir: The run directory.

    Raises:
        RunFormatError: the directory does not exist or a file is corrupt (a torn last line is skipped, not an error).
    """
    for path in list_accepted_files(run_dir):
        yield from iter_jsonl(path)


def iter_rejected(run_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Yields the rejection records of a run directory (keys: `REJECTED_COLUMNS`)."""
    for path in list_rejected_files(run_dir):
        yield from iter_jsonl(path)


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


def repair_jsonl(path: str | Path) -> int:
    """Cuts off a torn (unterminated) last line so that appending can continue safely.

    Returns:
        The number of bytes removed (0 when the file was intact or absent).
    """
    path = Path(path)
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        # Scan backwards in blocks for the last newline.
        block = 1 << 16
        end = size
        keep = 0
        while end > 0:
            start = max(0, end - block)
            handle.seek(start)
            chunk = handle.read(end - start)
            position = chunk.rfind(b"\n")
            if position >= 0:
                keep = start + position + 1
                break
            end = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return size - keep


class JsonlAppender:
    """Append-only JSONL writer: one complete line per write, flushed (and optionally fsynced) at once.

    Opening repairs a torn last line first (see `repair_jsonl`).

    Args:
        path: The JSONL file (created when absent).
        fsync: Also `os.fsync` after every `write_many` (survives a power loss, not only a killed process).
    """

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_jsonl(self.path)
        self._fsync = fsync
        self._handle: IO[bytes] | None = self.path.open("ab")

    def write(self, record: dict[str, Any]) -> None:
        self.write_many([record])

    def write_many(self, records: list[dict[str, Any]]) -> None:
        """Appends the records, each as one line written whole, then flushes."""
        if self._handle is None:
            raise RunFormatError(f"{str(self.path)!r} is closed.")
        for record in records:
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            self._handle.write(line.encode("utf-8"))
            self._handle.flush()
        if self._fsync and records:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
