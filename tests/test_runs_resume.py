"""`erc-synth generate` as a real process: SIGKILL mid-run then re-run gives exactly the uninterrupted result;
different settings in an existing directory and bad config files are refused with a clear message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from erc_synth_datasets.runs import count_records, iter_accepted, iter_rejected, read_manifest

REPO = Path(__file__).resolve().parents[1]
# One request at a time: the model's output for a seed then never depends on what else is decoded beside it.
ARGS = [
    "--benchmark", "iemocap", "--mode", "natural", "--num-dialogues", "3", "--batch-size", "1", "--seed", "7",
    "--max-new-tokens", "112", "--max-turns", "3", "--max-utterance-chars", "40", "--max-attempts", "2",
    "--num-threads", "1", "--no-progress",
]  # fmt: skip


def command(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "erc-synth"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "erc_synth.cli"]
    return [*base, "generate", *args]


def env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), cwd=REPO, env=env(), capture_output=True, text=True, timeout=timeout)


def snapshot(run_dir: Path) -> tuple[list[dict], list[dict]]:
    accepted = sorted(iter_accepted(run_dir), key=lambda r: r.index)
    rejected = sorted(iter_rejected(run_dir), key=lambda r: (r.index, r.attempt))
    return accepted, rejected


@pytest.mark.slow
def test_sigkill_then_rerun_equals_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    done = run(*ARGS, "--output-dir", str(reference))
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert "complete:" in done.stdout or "budget_spent:" in done.stdout

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        command(*ARGS, "--output-dir", str(killed)), cwd=REPO, env=env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    accepted_file = killed / "accepted-00000-of-00001.jsonl"
    rejected_file = killed / "rejected-00000-of-00001.jsonl"
    deadline = time.monotonic() + 600
    # Kill as soon as the first records are on disk: the process is then in the middle of its work.
    while time.monotonic() < deadline and process.poll() is None:
        if count_records(accepted_file) + count_records(rejected_file) > 0:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert read_manifest(killed).status.value == "running"
    partial_accepted, partial_rejected = snapshot(killed)

    resumed = run(*ARGS, "--output-dir", str(killed))
    assert resumed.returncode == done.returncode, resumed.stderr[-2000:]
    accepted, rejected = snapshot(killed)
    # Nothing accepted before the kill is lost or duplicated, and the final run equals the uninterrupted one.
    assert all(record in accepted for record in partial_accepted)
    assert all(record in rejected for record in partial_rejected)
    assert len({r.index for r in accepted}) == len(accepted)
    assert len({(r.index, r.attempt) for r in rejected}) == len(rejected)
    assert (accepted, rejected) == snapshot(reference)
    manifest = read_manifest(killed)
    assert manifest.status == read_manifest(reference).status
    assert manifest.counts == read_manifest(reference).counts
    assert manifest.settings_hash == read_manifest(reference).settings_hash


def test_different_settings_in_an_existing_directory_are_refused(tmp_path):
    from erc_synth_datasets.runs import RunManifest, write_manifest
    from generation.config import GenerationConfig
    from generation.runner import RunConflictError, run_generation

    out = tmp_path / "run"
    out.mkdir()
    manifest = RunManifest(settings_hash="0" * 64, settings={"mode": "natural"}, benchmark={}, mode="natural")
    write_manifest(out, manifest)
    config = GenerationConfig(benchmark="iemocap", mode="balanced", output=str(out), progress=False)
    with pytest.raises(RunConflictError, match="different settings .*mode: 'natural' there, 'balanced' now"):
        run_generation(config)
    result = run("--benchmark", "iemocap", "--mode", "balanced", "--output-dir", str(out), timeout=120)
    assert result.returncode == 1
    assert "holds a run made with different settings" in result.stderr and "choose a new --output" in result.stderr


def test_cli_reports_bad_config_files_and_missing_settings(tmp_path):
    config = tmp_path / "gen.yaml"
    config.write_text("benchmark: meld\nnum_dialogue: 3\n", encoding="utf-8")
    result = run("--config", str(config), "--output-dir", str(tmp_path / "x"), timeout=120)
    assert result.returncode != 0
    assert "unknown keys ['num_dialogue']" in result.stderr and "num_dialogues" in result.stderr
    missing = run("--benchmark", "meld", timeout=120)
    assert missing.returncode != 0 and "Missing output: pass --output" in missing.stderr
    bad_mode = run("--benchmark", "meld", "--mode", "skewed", "--output-dir", str(tmp_path / "y"), timeout=120)
    assert bad_mode.returncode != 0 and "mode must be one of ['natural', 'balanced']" in bad_mode.stderr
