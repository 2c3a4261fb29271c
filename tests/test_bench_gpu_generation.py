"""`benchmarks/bench_gpu_generation.py --tiny`: the GPU throughput script runs end to end on the CPU with a tiny
randomly initialised Llama, continuous batching against HF `generate` at batch 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gpu_generation.py"


@pytest.mark.slow
def test_tiny_run_reports_both_paths_and_the_limits(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--json", str(out)], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "HF generate, batch 1" in done.stdout and "continuous batching" in done.stdout
    report = json.loads(out.read_text())
    assert [run["slots"] for run in report["runs"]] == [1, 4]
    # Every request makes exactly the fixed number of new tokens: 2x slots requests of 16 tokens.
    assert [run["tokens"] for run in report["runs"]] == [2 * 16, 8 * 16]
    summary = report["summary"]
    assert summary["baseline_tokens_per_second"] > 0 and summary["best_tokens_per_second"] > 0
    assert summary["best_slots"] in (1, 4)
    assert 0 < summary["share_of_bandwidth_limit"] < 1 and 0 < summary["share_of_compute_limit"] < 1


@pytest.mark.slow
def test_without_a_gpu_the_full_run_says_what_to_do() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the full run would start")
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "--tiny" in done.stdout
