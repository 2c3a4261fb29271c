"""Shared pytest fixtures: where the real benchmark files and the project's own fixtures are."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA_ENV = "ERC_SYNTH_SHARED_DATA"

# Tests never reach the Hugging Face Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def shared_data_path() -> Path:
    """`$ERC_SYNTH_SHARED_DATA`, else `../shared/data` next to the repository."""
    return Path(os.environ.get(SHARED_DATA_ENV, REPO_ROOT.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real MELD/EmoryNLP/IEMOCAP folder; the test is skipped (with the reason) when it is absent."""
    path = shared_data_path()
    if not path.is_dir():
        pytest.skip(f"real benchmark data not found at {path} (set {SHARED_DATA_ENV} to its folder)")
    return path


def materialise_benchmark_fixtures(target: Path) -> Path:
    """Copies the project's own benchmark fixtures to `target` under the file names the loaders read.

    Files whose names equal a benchmark release's (`train_sent_emo.csv`, `iemocap_train.txt`) are stored as
    `<name>.fixture.<ext>`, so that the repository never holds a file that looks like a copy of benchmark data.
    """
    for source in sorted((FIXTURES / "benchmarks").rglob("*")):
        if source.is_file():
            destination = target / source.relative_to(FIXTURES / "benchmarks")
            destination = destination.with_name(destination.name.replace(".fixture.", "."))
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
    return target


@pytest.fixture(scope="session")
def benchmark_fixtures(tmp_path_factory) -> Path:
    """The project's own small benchmark files (invented dialogues) in every supported format, one folder per
    benchmark, under the names the loaders read."""
    return materialise_benchmark_fixtures(tmp_path_factory.mktemp("benchmark-fixtures"))
