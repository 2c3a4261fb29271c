"""`results.json`: the scores of one run with everything needed to reproduce and compare it, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from erc_synth_datasets.files import read_json_file, write_json_atomic

from .errors import TrainingConfigError

__all__ = [
    "RESULTS_NAME",
    "environment_versions",
    "read_results",
    "results_complete",
    "table_row_name",
    "write_json_atomic",
]

RESULTS_NAME = "results.json"


def read_results(path: str | Path) -> dict[str, Any]:
    """Reads a `results.json` (or the `results.json` inside a run folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_NAME
    return read_json_file(path, what="Results file", error=TrainingConfigError)


def results_complete(run_dir: str | Path, test_sets: list[str] | None = None) -> bool:
    """Whether a run folder holds a finished run (every expected test set scored)."""
    path = Path(run_dir) / RESULTS_NAME
    if not path.is_file():
        return False
    try:
        results = read_results(path)
    except TrainingConfigError:
        return False
    if results.get("status") != "complete":
        return False
    return all(name in results.get("test", {}) for name in test_sets or [])


def table_row_name(results: dict[str, Any], test_set: str) -> str:
    """The row name of a test set in a results table: `test_set`, or `test_set[first N utterances]` when the run
    scored only part of it (`max_eval_utterances`), so that a smoke score is never read as a whole-split score."""
    cap = (results.get("settings", {}).get("data", {}) or {}).get("max_eval_utterances")
    scored = results.get("test", {}).get(test_set, {}).get("num_utterances")
    return f"{test_set}[first {cap} utterances]" if cap is not None and scored == cap else test_set


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
