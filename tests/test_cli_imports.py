"""`--help` stays light (no datasets, torch or transformers) and every command reports bad input in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from erc_synth.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("datasets", "torch", "transformers", "pyarrow")

# One command's help in a fresh interpreter, then the heavy modules it loaded (the last line of stdout).
_PROBE = """
import json, sys
from erc_synth.cli import main
try:
    status = main({argv!r})
except SystemExit as exit:
    status = exit.code
print(json.dumps({{"status": status, "loaded": [name for name in {heavy!r} if name in sys.modules]}}))
"""


def _run(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "erc_synth.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


@pytest.mark.parametrize("argv", [["--help"], *([name, "--help"] for name in COMMANDS)], ids=" ".join)
def test_help_imports_no_heavy_library(argv):
    result = _run(code=_PROBE.format(argv=argv, heavy=HEAVY))
    assert result.returncode == 0, result.stderr
    *help_lines, last = result.stdout.strip().splitlines()
    assert json.loads(last) == {"status": 0, "loaded": []}
    usage = "usage: erc-synth" + ("" if argv == ["--help"] else f" {argv[0]}")
    assert help_lines[0].startswith(usage), help_lines[:3]


def _actions(parser) -> list[tuple]:
    # Every flag, hidden `--no-` ones included, as argparse holds it (choices as a list: TrainingArguments has
    # `dict_keys` there, the snapshot a JSON list).
    return [
        (a.option_strings, a.dest, a.nargs, a.const, a.default, a.type, None if a.choices is None else list(a.choices),
         a.required, a.help, a.metavar)
        for a in parser._actions
    ]  # fmt: skip


def test_train_help_from_the_snapshot_is_the_real_parsers_help():
    """`erc-synth train --help` shows exactly what the parser of a real run would: every flag, with its help."""
    from erc_synth.commands.train import make_parser
    from trainers.training_args import ErcTrainingArguments

    light, real = make_parser(for_help=True), make_parser()
    assert real.dataclass_types[2] is ErcTrainingArguments
    assert light.dataclass_types[2] is not ErcTrainingArguments  # the stand-in from the snapshot
    assert light.format_help() == real.format_help()
    assert _actions(light) == _actions(real)
    text = " ".join(light.format_help().split())  # argparse wraps the help text
    assert "--gradient-accumulation-steps GRADIENT_ACCUMULATION_STEPS Number of update steps to accumulate" in text
    assert "--pooling {first,mean,target_mean}" in text and "--pretrain-learning-rate" in text


def test_the_training_arguments_snapshot_is_that_of_the_installed_transformers():
    from trainers.training_help import load_snapshot, make_snapshot

    assert load_snapshot() == make_snapshot(), (
        "trainers/training_arguments.json is not the snapshot of the installed transformers' TrainingArguments; "
        "rewrite it with `python -m trainers.training_help`."
    )


def test_a_snapshot_of_another_transformers_version_is_not_used(monkeypatch):
    from erc_synth.commands.train import make_parser
    from trainers import training_help
    from trainers.training_args import ErcTrainingArguments

    assert training_help.help_training_arguments() is not None
    monkeypatch.setattr(training_help, "_installed_transformers", lambda: "0.0.1")
    assert training_help.help_training_arguments() is None
    assert make_parser(for_help=True).dataclass_types[2] is ErcTrainingArguments


def test_real_runs_are_parsed_with_the_real_training_arguments(tmp_path):
    from erc_synth.commands.train import make_parser
    from trainers.training_args import ErcTrainingArguments

    _, _, training = make_parser().parse(["--output-dir", str(tmp_path), "--learning-rate", "3e-5", "--use-cpu"])
    assert type(training) is ErcTrainingArguments
    assert (training.output_dir, training.learning_rate, training.metric_for_best_model) == (
        str(tmp_path),
        3e-5,
        "weighted_f1",
    )


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
        (["merge", "{tmp}/a", "{tmp}/b", "--output-dir", "{tmp}/m"], "erc-synth merge: "),
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
