"""`erc-synth generate --backend openai` end to end against a real llama-cpp-python server (SmolLM2).

Natural and balanced mode, free lines and JSON-schema output, a failed request among successful ones, and a server
killed mid-run then restarted: the run stops clearly, keeps what it had, and the re-run completes the set with no
duplicates. SmolLM2-135M follows the format poorly, so the tests assert on accounting (every prompt has its
records), not on how many dialogues are accepted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from erc_synth_datasets.runs import iter_accepted, iter_rejected, read_manifest

try:
    from tests import servers
except ImportError:  # tests/ is not a package: its folder is on sys.path
    import servers

pytestmark = servers.server_test_marks()

SECRET = "sk-generate-test-secret-42"
LABELS = ["neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"]


@pytest.fixture(scope="session")
def llama_server(request: pytest.FixtureRequest) -> servers.LlamaServer:
    """llama-cpp-python's server with SmolLM2, shared by every test module of the session."""
    return servers.shared_llama_server(request.config)


def generate_command(output: Path, base_url: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "erc_synth.cli", "generate", "--benchmark", "meld", "--backend", "openai",
        "--base-url", base_url, "--model", servers.SERVED_MODEL_NAME, "--output-dir", str(output),
        "--batch-size", "1", "--max-retries", "1", "--request-timeout", "300", *extra,
    ]  # fmt: skip


def run_generate(command: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_API_KEY": SECRET, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)


def records(run_dir: Path) -> tuple[list[dict], list[dict]]:
    return [r.to_dict() for r in iter_accepted(run_dir)], [r.to_dict() for r in iter_rejected(run_dir)]


def finished(done: subprocess.CompletedProcess[str], run_dir: Path) -> str:
    """The run's final status: `complete` (exit 0), or `budget_spent` (exit 1) when the small model failed often."""
    status = read_manifest(run_dir).status.value
    assert (done.returncode, status) in ((0, "complete"), (1, "budget_spent")), done.stderr[-2000:]
    return status


def assert_every_prompt_accounted_for(run_dir: Path, num_dialogues: int, max_attempts: int) -> None:
    """N accepted (or the whole budget used); each index's attempts in order, none twice, each index accepted once."""
    accepted, rejected = records(run_dir)
    accepted_indices = [r["index"] for r in accepted]
    assert len(accepted_indices) == len(set(accepted_indices))
    attempts = [(r["index"], r["attempt"]) for r in accepted + rejected]
    assert len(attempts) == len(set(attempts))
    for index in {i for i, _ in attempts}:
        tried = sorted(a for i, a in attempts if i == index)
        assert tried == list(range(len(tried))) and len(tried) <= max_attempts, (index, tried)
    manifest = read_manifest(run_dir)
    if manifest.status.value == "complete":
        assert len(accepted) == num_dialogues
    else:
        assert len(attempts) == num_dialogues * max_attempts
    counts = manifest.counts
    assert counts.accepted == len(accepted) and counts.rejected == len(rejected)
    assert counts.attempts == len(attempts) and counts.requested == num_dialogues


def assert_no_secret(run_dir: Path, *texts: str) -> None:
    for path in run_dir.iterdir():
        assert SECRET not in path.read_text(encoding="utf-8"), path.name
    for text in texts:
        assert SECRET not in text


def test_natural_free_lines_with_a_failed_request_among_successes(llama_server, tmp_path):
    """Free line format; the first request meets 503s until its retries are used up, the others are served."""
    with servers.FaultProxy(llama_server.origin) as proxy:
        proxy.inject("status", times=2, status=503)  # --max-retries 1: two attempts, both refused
        command = generate_command(
            tmp_path / "run", proxy.base_url, "--mode", "natural", "--num-dialogues", "2", "--no-constrained",
            "--max-new-tokens", "64", "--max-attempts", "2",
        )  # fmt: skip
        done = run_generate(command)
    run_dir = tmp_path / "run"
    finished(done, run_dir)
    manifest = read_manifest(run_dir).to_dict()
    assert manifest["output_format"] == "lines"
    assert manifest["backend"] == "openai" and manifest["model"] == servers.SERVED_MODEL_NAME
    assert manifest["json_schema"] is None
    accepted, rejected = records(run_dir)
    failed = [r for r in rejected if r["reason"] == "backend_error"]
    assert [(r["index"], r["attempt"]) for r in failed] == [(0, 0)]
    assert "HTTP 503" in failed[0]["message"] and failed[0]["raw_text"] == ""
    assert_every_prompt_accounted_for(run_dir, num_dialogues=2, max_attempts=2)
    assert all(r["mode"] == "natural" and r["target_emotion"] is None for r in accepted)
    assert_no_secret(run_dir, done.stdout, done.stderr)


def test_balanced_json_schema_output(llama_server, tmp_path):
    command = generate_command(
        tmp_path / "run", llama_server.base_url, "--mode", "balanced", "--num-dialogues", "2", "--min-turns", "2",
        "--max-turns", "2", "--max-utterance-chars", "60", "--max-new-tokens", "96", "--max-attempts", "2",
    )  # fmt: skip
    done = run_generate(command)
    run_dir = tmp_path / "run"
    finished(done, run_dir)
    manifest = read_manifest(run_dir).to_dict()
    assert manifest["output_format"] == "json"
    assert manifest["json_schema"]["properties"]["turns"]["maxItems"] == 2
    accepted, rejected = records(run_dir)
    assert_every_prompt_accounted_for(run_dir, num_dialogues=2, max_attempts=2)
    # Balanced: index i targets label i (in canonical order).
    for record in accepted + rejected:
        assert record["target_emotion"] == LABELS[record["index"] % len(LABELS)]
    # The server enforced the schema: every output is a JSON document of speaker/utterance/emotion turns (cut off
    # at most by max_new_tokens), never prose.
    for record in rejected:
        assert record["raw_text"].lstrip().startswith("{"), record["raw_text"][:200]
    for record in accepted:
        assert 1 <= len(record["utterances"]) <= 2 and set(record["emotions"]) <= set(LABELS)
    assert_no_secret(run_dir, done.stdout, done.stderr)


def test_killed_server_stops_the_run_and_a_rerun_completes_it(tmp_path):
    server = servers.LlamaServer(log_path=tmp_path / "server.log").start()
    run_dir = tmp_path / "run"
    num_dialogues = 5  # enough left after the first record that the kill always lands mid-run
    command = generate_command(
        run_dir, server.base_url, "--mode", "natural", "--num-dialogues", str(num_dialogues), "--no-constrained",
        "--max-new-tokens", "32", "--max-attempts", "1",
    )  # fmt: skip
    env = {**os.environ, "OPENAI_API_KEY": SECRET, "HF_HUB_OFFLINE": "1"}
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 600
        # Kill the server once the first prompt has its record (batch size 1: written as each batch ends).
        while time.monotonic() < deadline and process.poll() is None:
            if (run_dir / "manifest.json").exists() and sum(map(len, records(run_dir))) >= 1:
                break
            time.sleep(0.1)
        assert process.poll() is None, "the run ended before the server could be killed"
        server.stop(kill=True)
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 1, stderr[-2000:]
        assert "No server answered at" in stderr and server.base_url in stderr and "resume" in stderr
        assert read_manifest(run_dir).status.value == "stopped"
        accepted, rejected = records(run_dir)
        kept = {(r["index"], r["attempt"]) for r in accepted + rejected}
        assert 1 <= len(kept) < num_dialogues
        assert all(r["reason"] != "backend_error" for r in rejected)  # no prompt was used up by the crash
        files_before = {p.name: p.read_text(encoding="utf-8") for p in run_dir.glob("*.jsonl")}

        server.start()
        done = run_generate(command)
        finished(done, run_dir)
        for name, text in files_before.items():
            assert (run_dir / name).read_text(encoding="utf-8").startswith(text)  # append-only: nothing lost
        assert_every_prompt_accounted_for(run_dir, num_dialogues=num_dialogues, max_attempts=1)
        assert_no_secret(run_dir, stdout, stderr, done.stdout, done.stderr)
        assert json.loads((run_dir / "manifest.json").read_text())["runtime"]["base_url"] == [server.base_url]
    finally:
        server.stop()
