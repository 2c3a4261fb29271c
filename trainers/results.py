"""`results.json`: the scores of one run with everything needed to reproduce and compare it, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["RESULTS_NAME", "environment_versions", "read_results", "results_complete", "write_json_atomic"]

RESULTS_NAME = "results.json"


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Writes JSON to a temporary file in the same folder, then renames it: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=False, default=str)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_results(path: str | Path) -> dict[str, Any]:
    """Reads a `results.json` (or the `results.json` inside a run folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_NAME
    return json.loads(path.read_text(encoding="utf-8"))


def results_complete(run_dir: str | Path, test_sets: list[str] | None = None) -> bool:
    """Whether a run folder holds a finished run (every expected test set scored)."""
    path = Path(run_dir) / RESULTS_NAME
    if not path.is_file():
        return False
    try:
        results = read_results(path)
    except (OSError, json.JSONDecodeError):
        return False
    if results.get("status") != "complete":
        return False
    return all(name in results.get("test", {}) for name in test_sets or [])


def environment_versions() -> dict[str, str]:
    """Versions of the packages that change results."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in ("erc-synth", "torch", "transformers", "datasets", "accelerate", "peft", "evaluate", "scikit-learn"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions
