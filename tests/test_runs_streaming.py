"""The streaming runner with a scripted backend: N means N accepted, plan-order decisions whatever the completion
order, the attempt budget, extending a run, stopping and resuming (also after SIGKILL of a real process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ScriptedBackend, run_scripted

from erc_synth_datasets.runs import (
    RunStatus,
    accepted_file_name,
    count_records,
    iter_accepted,
    iter_rejected,
    read_manifest,
    rejected_file_name,
)
from generation.backends import GenerationRequest, GenerationResult

HELPERS = Path(__file__).resolve().parent / "helpers.py"


def files(run_dir: Path) -> tuple[bytes, bytes]:
    """The raw bytes of the shard files: equal runs are equal byte for byte, order included."""
    return (run_dir / accepted_file_name()).read_bytes(), (run_dir / rejected_file_name()).read_bytes()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    summary, _ = run_scripted(out, ScriptedBackend(in_flight=1))
    assert summary.status == "complete"
    return out


def test_num_dialogues_means_that_many_accepted_in_plan_order(reference):
    accepted, rejected = list(iter_accepted(reference)), list(iter_rejected(reference))
    assert len(accepted) == 20
    indices = [r.index for r in accepted]
    assert indices == sorted(indices) and len(set(indices)) == 20
    assert len({r.dialogue_id for r in accepted}) == 20
    reasons = {r.reason for r in rejected}
    assert "duplicate" in reasons and "no_turns" in reasons, reasons  # the script refuses and repeats itself
    # An index that exhausted its attempts is replaced by the next index of the plan, so the plan grew beyond 20.
    assert max(indices) >= 20 or any(r.attempt > 0 for r in accepted)
    manifest = read_manifest(reference)
    assert manifest.status is RunStatus.COMPLETE and manifest.target == 20 and manifest.attempt_budget == 60
    assert manifest.counts.accepted == 20 and manifest.counts.rejected == len(rejected)
    assert sum(manifest.counts.rejected_by_reason.values()) == len(rejected)
    assert manifest.files == {accepted_file_name(): 20, rejected_file_name(): len(rejected)}


def test_completion_order_does_not_change_the_records(reference, tmp_path):
    # Eight in flight finish out of order (ticks drawn from each seed); the files equal the one-at-a-time run.
    summary, _ = run_scripted(tmp_path / "wide", ScriptedBackend(in_flight=8))
    assert summary.status == "complete"
    assert files(tmp_path / "wide") == files(reference)


def test_a_spent_budget_stops_with_reasons_and_a_larger_budget_continues(reference, tmp_path):
    out = tmp_path / "run"
    summary, messages = run_scripted(out, attempt_budget=9)
    assert summary.status == "budget_spent" and summary.attempts == 9 and summary.accepted < 20
    assert f"ran out with {summary.accepted} of 20 dialogues accepted" in summary.message
    assert "rejections by reason: " in summary.message and summary.message in messages
    assert read_manifest(out).status is RunStatus.BUDGET_SPENT
    first_accepted, first_rejected = files(out)

    resumed, _ = run_scripted(out, ScriptedBackend(in_flight=8))
    assert resumed.status == "complete"
    assert files(out) == files(reference)
    assert files(out)[0].startswith(first_accepted) and files(out)[1].startswith(first_rejected)


def test_raising_num_dialogues_extends_a_run(reference, tmp_path):
    out = tmp_path / "run"
    small, _ = run_scripted(out, num_dialogues=8)
    assert small.status == "complete" and small.accepted == 8
    first = files(out)
    extended, _ = run_scripted(out, ScriptedBackend(in_flight=3), num_dialogues=20)
    assert extended.status == "complete" and extended.accepted == 20
    assert files(out) == files(reference) and files(out)[0].startswith(first[0])
    again, _ = run_scripted(out, num_dialogues=20)  # nothing left: no request is sent
    assert again.status == "complete" and files(out) == files(reference)


def test_a_backend_outage_stops_the_run_and_a_rerun_resumes(reference, tmp_path):
    out = tmp_path / "run"
    stopped, messages = run_scripted(out, ScriptedBackend(in_flight=5, outage_after=12))
    assert stopped.status == "stopped" and "the scripted server went away" in stopped.message
    assert "re-run the same command to resume" in messages[-1]
    assert read_manifest(out).status is RunStatus.STOPPED
    resumed, _ = run_scripted(out, ScriptedBackend(in_flight=2))
    assert resumed.status == "complete" and files(out) == files(reference)


def test_a_torn_last_line_is_cut_reported_and_generated_again(reference, tmp_path):
    out = tmp_path / "run"
    run_scripted(out, num_dialogues=6)
    with (out / accepted_file_name()).open("ab") as handle:
        handle.write(b'{"dialogue_id": "meld-natural-')  # a kill in the middle of an append
    extended, messages = run_scripted(out, num_dialogues=20)
    assert extended.status == "complete" and files(out) == files(reference)
    assert any(f"{accepted_file_name()}'" in m and "torn last line of 30 bytes" in m for m in messages), messages
    [repair] = read_manifest(out).repairs
    assert (repair["file"], repair["bytes"]) == (accepted_file_name(), 30)


def test_sharded_runs_split_the_target(tmp_path):
    summaries = [run_scripted(tmp_path / f"s{i}", num_dialogues=7, num_shards=2, shard_index=i)[0] for i in (0, 1)]
    assert [s.accepted for s in summaries] == [4, 3]
    assert all(r.index % 2 == 1 for r in iter_accepted(tmp_path / "s1"))


@pytest.mark.slow
def test_sigkill_then_rerun_equals_an_uninterrupted_run(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    done = subprocess.run([sys.executable, str(HELPERS), str(reference_dir), "40"], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr[-2000:]

    process = subprocess.Popen(
        [sys.executable, str(HELPERS), str(killed_dir), "40", "0.05"], env=env, stderr=subprocess.DEVNULL
    )
    accepted_path, rejected_path = killed_dir / accepted_file_name(), killed_dir / rejected_file_name()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if count_records(accepted_path) >= 8:
            break
        time.sleep(0.01)
    assert process.poll() is None, "the run finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert read_manifest(killed_dir).status is RunStatus.RUNNING
    partial = files(killed_dir)
    assert 8 <= count_records(accepted_path) < 40

    resumed = subprocess.run([sys.executable, str(HELPERS), str(killed_dir), "40"], env=env, capture_output=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    # Nothing written before the kill is lost or repeated, and the result equals the uninterrupted run byte for byte.
    assert files(killed_dir)[0].startswith(partial[0]) and files(killed_dir)[1].startswith(partial[1])
    assert files(killed_dir) == files(reference_dir)
    assert read_manifest(killed_dir).counts == read_manifest(reference_dir).counts
    assert count_records(rejected_path) == read_manifest(reference_dir).counts.rejected


class _RepeatingBackend(ScriptedBackend):
    """Every third plan index gets a dialogue whose second utterance repeats the first (a degenerate output)."""

    def result(self, request: GenerationRequest) -> GenerationResult:
        if int(request.key.split(":")[0]) % 3 == 0:
            text = f"Ross: We were on a break {request.seed}. (1)\nRachel: We were on a break {request.seed}. (7)"
            return GenerationResult(text=text, completion_tokens=12)
        return super().result(request)


def test_quality_filters_reject_with_their_reason_code_and_counts(tmp_path):
    out = tmp_path / "run"
    summary, _ = run_scripted(out, _RepeatingBackend(), num_dialogues=9)
    assert summary.status == "complete" and summary.accepted == 9
    filtered = [r for r in iter_rejected(out) if r.reason == "repeated_utterances"]
    assert filtered and all(r.index % 3 == 0 for r in filtered)
    assert "1 of 2 utterances repeat an earlier one" in filtered[0].message
    assert summary.rejected_by_reason["repeated_utterances"] == len(filtered)
    assert read_manifest(out).counts.rejected_by_reason["repeated_utterances"] == len(filtered)
    off, _ = run_scripted(tmp_path / "off", _RepeatingBackend(), num_dialogues=9, filters=False)
    assert "repeated_utterances" not in off.rejected_by_reason
