"""The benchmark scripts stop on a missing data folder or a wrong setting with one line naming it, before any work
and without a traceback (run as a user runs them: a new Python process per script)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("script", "flag", "status"),
    [
        ("bench_utility.py", "--data-dir", 2),  # checked with the options: usage error
        ("bench_training.py", "--data_dir", 2),
        ("bench_quality.py", "--data-dir", 1),  # reported by the loader, through `reports_errors`
        ("bench_classifiers.py", "--data_dir", 1),
    ],
)
def test_a_missing_data_folder_is_one_line_naming_it(tmp_path, script, flag, status):
    missing = tmp_path / "no-such-folder"
    work = tmp_path / "work"
    argv = [sys.executable, str(REPO / "benchmarks" / script), flag, str(missing)]
    if script == "bench_utility.py":
        argv += ["--work", str(work)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{script}: ") and str(missing) in last
    assert "folder" in last and "data_dirs" not in last
    assert not work.exists() and done.stdout.strip() == ""


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("variant", "named"),
    [
        ("natural-teacher-top200", "natural-teacher-top200"),  # not a variant
        ("balanced-clean", "does not generate"),  # a variant whose mode --modes leaves out
    ],
)
def test_bench_utility_checks_its_settings_before_generating_or_building(tmp_path, shared_data, variant, named):
    work = tmp_path / "work"
    argv = [sys.executable, str(REPO / "benchmarks" / "bench_utility.py"), "--data-dir", str(shared_data / "meld")]
    argv += ["--modes", "natural", "--variants", "org", variant, "--work", str(work)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("bench_utility.py: ") and named in last and variant in last
    assert not work.exists()


def test_bench_utility_refuses_a_negative_real_budget(tmp_path):
    work = tmp_path / "work"
    argv = [sys.executable, str(REPO / "benchmarks" / "bench_utility.py"), "--max-train-dialogues", "-5"]
    done = subprocess.run([*argv, "--work", str(work)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--max-train-dialogues must be 0 (all) or more, got -5" in done.stderr.strip().splitlines()[-1]
    assert not work.exists()


def test_bench_generation_contention_refuses_an_unknown_alternative_before_running_anything(tmp_path):
    script = REPO / "benchmarks" / "bench_generation_contention.py"
    argv = [sys.executable, str(script), "--alternatives", "passive,x2"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    assert "--alternatives" in last and "'x2'" in last and "workers" in last


def test_profile_generation_run_reports_a_refused_setting_by_name_and_goes_on(tmp_path):
    script = REPO / "benchmarks" / "profile_generation_run.py"
    argv = [sys.executable, str(script), "--num-dialogues", "1", "--settings", "max-loop-tokens=-1"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "every default but max-loop-tokens=-1" in done.stdout
    assert (
        "failed:" in done.stdout
        and "--max-loop-tokens (max_loop_tokens) must be an integer in [0, 1048576]" in done.stdout
    )


def test_profile_generation_run_profiles_a_real_run_and_compares_its_dialogues(tmp_path):
    """One real dialogue from the packaged model, twice: with one request every step decodes one row, so every step
    is in the tail; the same seed accepts the same dialogue with and without the loop stop (nothing loops here)."""
    script = REPO / "benchmarks" / "profile_generation_run.py"
    argv = [sys.executable, str(script), "--num-dialogues", "1", "--settings", "default", "max-loop-tokens=0"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert "failed:" not in done.stdout, done.stdout
    tails = re.findall(r"the last (\d+) of the (\d+) steps decoded one row", done.stdout)
    assert len(tails) == 2 and all(alone == steps and int(steps) > 0 for alone, steps in tails), done.stdout
    assert re.search(r"\n\s+1-4\s+(\d+)\s", done.stdout)
    assert "accepted dialogues (index, attempt, speakers, utterances, emotions): the same as the first run's" in (
        done.stdout
    )
