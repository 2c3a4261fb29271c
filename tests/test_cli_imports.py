"""`--help` stays light (no datasets, torch or transformers) and every command reports bad input in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from erc_synth_datasets.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("datasets", "torch", "transformers", "pyarrow")
# `train`'s options are `transformers.TrainingArguments`' fields, so its help needs transformers.
LIGHT_COMMANDS = [name for name in COMMANDS if name != "train"]

_PROBE = """
import json, sys
from erc_synth_datasets.cli import main
heavy = {heavy!r}
seen = {{}}
for argv in {argvs!r}:
    try:
        main(argv)
    except SystemExit:
        pass
    seen[" ".join(argv)] = [name for name in heavy if name in sys.modules]
print(json.dumps(seen))
"""


def _run(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "erc_synth_datasets.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


def test_help_imports_no_heavy_library():
    argvs = [["--help"]] + [[name, "--help"] for name in LIGHT_COMMANDS]
    result = _run(code=_PROBE.format(heavy=HEAVY, argvs=argvs))
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(seen) == [" ".join(argv) for argv in argvs]
    assert seen == {key: [] for key in seen}, seen


def test_importing_the_package_is_light():
    code = "import sys, erc_synth_datasets as e; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = _run(code=code.format(heavy=HEAVY))
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr
    # The lazy names still resolve.
    result = _run(code="import erc_synth_datasets as e; print(e.get_benchmark('meld').num_labels)")
    assert result.stdout.strip() == "7", result.stderr


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["stats", "meldd", "--data-dir", "nowhere"],
            "erc-synth stats: Unknown benchmark 'meldd'. Did you mean 'meld'?",
        ),
        (["build", "no-such-run", "--output-dir", "{tmp}/out"], "erc-synth build: "),
        (["significance", "{tmp}/missing.csv"], "erc-synth significance: "),
        (["generate", "--benchmark", "meld", "--temperature", "-1", "--output-dir", "{tmp}/run"], "temperature"),
        (["merge", "{tmp}/a", "{tmp}/b", "--output", "{tmp}/m"], "erc-synth merge: "),
        (["experiment", "{tmp}/missing.yaml"], "erc-synth experiment: "),
        (["push", "{tmp}", "--repo-id", "not a repo id", "--dry-run"], "erc-synth push: repo_id must look like"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path, argv, message):
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    result = _run(*argv)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(message) or message in lines[0], lines[0]


def test_debug_shows_the_traceback(tmp_path):
    result = _run("--debug", "stats", "meldd", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr and "BenchmarkError" in result.stderr
    after = _run("stats", "meldd", "--data-dir", str(tmp_path), "--debug")
    assert after.returncode == 1 and "Traceback (most recent call last)" in after.stderr
